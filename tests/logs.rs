//! The logs of whole calls, at every level, never hold a full phone number or a code.

mod common;

use common::process::{
    ServerProcess, call, contains_digit_run, example_participants, without_timestamp,
};

/// Every number in the example file, and the lines.
const NUMBERS: &[&str] = &[
    "2025550100",
    "2025550101",
    "2025550102",
    "2025550103",
    "2025550150",
    "2025550151",
    "2025550152",
    "2025550153",
    "2025550199",
];

#[tokio::test]
async fn a_whole_day_of_calls_leaves_no_number_and_no_code_in_the_logs() {
    let server = ServerProcess::start(
        &["--participants", example_participants().to_str().unwrap()],
        &[("RUST_LOG", "trace")],
    );
    let base = server.base.clone();
    let plays: &[&[&str]] = &[
        &[
            "--from",
            "+1 (202) 555-0101",
            "--auto-code",
            "--call-sid",
            "CA00000000000000000000000000000001",
        ],
        &[
            "--from",
            "+12025550102",
            "--digits",
            "000000,111111,222222",
            "--call-sid",
            "CA00000000000000000000000000000002",
        ],
        &[
            "--from",
            "+12025550103",
            "--digits",
            "*,,12,code",
            "--call-sid",
            "CA00000000000000000000000000000003",
        ],
        &[
            "--from",
            "+12025550199",
            "--to",
            "+12025550100",
            "--call-sid",
            "CA00000000000000000000000000000004",
        ],
        &[
            "--from",
            "anonymous",
            "--to",
            "+12025550150",
            "--call-sid",
            "CA00000000000000000000000000000005",
        ],
        &[
            "--from",
            "+12025550151",
            "--to",
            "+12025550177",
            "--call-sid",
            "CA00000000000000000000000000000006",
        ],
        &[
            "--from",
            "+12025550153",
            "--to",
            "+12025550150",
            "--digits",
            "code",
            "--call-sid",
            "CA00000000000000000000000000000007",
        ],
    ];
    let outcomes: Vec<i32> =
        tokio::task::spawn_blocking(move || plays.iter().map(|args| call(&base, args).0).collect())
            .await
            .unwrap();
    assert_eq!(outcomes, [0, 4, 0, 3, 3, 3, 0]);
    let codes: Vec<String> = reqwest::get(format!("{}/dev/outbox", server.base))
        .await
        .unwrap()
        .json::<Vec<serde_json::Value>>()
        .await
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(codes.len() >= 4, "{codes:?}");

    let (status, log) = server.stop();

    assert_eq!(status, Some(0), "graceful exit on SIGTERM");
    // The log did record the calls, with masked numbers.
    assert!(log.contains("call.joined"), "{log}");
    assert!(log.contains("+1202•••0101"), "{log}");
    for line in log.lines().map(without_timestamp) {
        for number in NUMBERS {
            assert!(!line.contains(number), "full number {number} in: {line}");
        }
        for code in &codes {
            assert!(!contains_digit_run(line, code), "code {code} in: {line}");
        }
    }
}

#[test]
fn the_digit_run_check_finds_codes_and_ignores_longer_numbers() {
    assert!(contains_digit_run("code=123456 x", "123456"));
    assert!(contains_digit_run("123456", "123456"));
    assert!(!contains_digit_run("91234567", "123456"));
    assert_eq!(
        without_timestamp("2026-11-23T14:56:10.854077Z  INFO hi"),
        " INFO hi"
    );
}
