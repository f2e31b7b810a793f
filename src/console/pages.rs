//! The console's pages: one askama template (checked at compile time) with a part per page,
//! and the live roster part the script swaps in.

use askama::Template;

/// One call on a conference.
#[derive(Debug, Clone)]
pub struct Row {
    /// The carrier's call id (the actions' path segment).
    pub id: String,
    pub name: String,
    pub role: String,
    /// Masked.
    pub phone: String,
    pub muted: bool,
    pub since: String,
}

/// One enrolled person.
#[derive(Debug, Clone)]
pub struct EnrolledRow {
    /// The number key (the removal's path segment).
    pub key: String,
    pub name: String,
    /// Masked.
    pub phone: String,
    pub channel: String,
    pub since: String,
}

/// One conference the signed-in person moderates.
#[derive(Debug, Clone)]
pub struct ConferenceView {
    pub name: String,
    /// The name percent-encoded as one path segment.
    pub path: String,
    pub started: bool,
    pub ended: bool,
    pub locked: bool,
    pub dial_in: String,
    pub rows: Vec<Row>,
    pub enrolled: Vec<EnrolledRow>,
}

/// A console page.
#[derive(Template, Debug, Default)]
#[template(path = "console/page.html")]
pub struct Page {
    /// Which page: signin, code, dashboard, live, created, invite_phone, invite_code,
    /// enrolled, message.
    pub kind: &'static str,
    pub title: String,
    pub csrf: String,
    pub who: String,
    pub conferences: Vec<ConferenceView>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub phone: String,
    pub token: String,
    pub conference: String,
    pub invitee: String,
    pub days: u64,
    pub link: String,
    pub dial_in: String,
    pub text: String,
    /// An invitation form's errors: the conference, the name's error, the days' error.
    pub invite_errors: Option<(String, Option<String>, Option<String>)>,
}

impl Page {
    pub fn message(title: &str, text: &str) -> Self {
        Self {
            kind: "message",
            title: title.to_owned(),
            text: text.to_owned(),
            ..Self::default()
        }
    }

    pub fn sign_in(csrf: String, error: Option<&str>, phone: Option<&str>) -> Self {
        Self {
            kind: "signin",
            title: "Sign in".to_owned(),
            csrf,
            error: error.map(str::to_owned),
            phone: phone.unwrap_or_default().to_owned(),
            ..Self::default()
        }
    }

    pub fn code(csrf: String, notice: Option<&str>, error: Option<&str>) -> Self {
        Self {
            kind: "code",
            title: "Sign in".to_owned(),
            csrf,
            notice: notice.map(str::to_owned),
            error: error.map(str::to_owned),
            ..Self::default()
        }
    }

    pub fn dashboard(csrf: String, who: String, conferences: Vec<ConferenceView>) -> Self {
        Self {
            kind: "dashboard",
            title: "Your conferences".to_owned(),
            csrf,
            who,
            conferences,
            ..Self::default()
        }
    }

    pub fn live(csrf: String, conferences: Vec<ConferenceView>) -> Self {
        Self {
            kind: "live",
            csrf,
            conferences,
            ..Self::default()
        }
    }

    pub fn invitation_created(
        csrf: String,
        who: String,
        conference: String,
        invitee: String,
        days: u64,
        link: String,
    ) -> Self {
        Self {
            kind: "created",
            title: "Invitation created".to_owned(),
            csrf,
            who,
            conference,
            invitee,
            days,
            link,
            ..Self::default()
        }
    }

    pub fn invite_phone(
        csrf: String,
        token: String,
        conference: String,
        error: Option<&str>,
        phone: Option<&str>,
    ) -> Self {
        Self {
            kind: "invite_phone",
            title: format!("Join {conference}"),
            csrf,
            token,
            conference,
            error: error.map(str::to_owned),
            phone: phone.unwrap_or_default().to_owned(),
            ..Self::default()
        }
    }

    pub fn invite_code(
        csrf: String,
        token: String,
        conference: String,
        notice: Option<&str>,
        error: Option<&str>,
    ) -> Self {
        Self {
            kind: "invite_code",
            title: format!("Join {conference}"),
            csrf,
            token,
            conference,
            notice: notice.map(str::to_owned),
            error: error.map(str::to_owned),
            ..Self::default()
        }
    }

    pub fn enrolled(conference: String, invitee: String, dial_in: String) -> Self {
        Self {
            kind: "enrolled",
            title: "You are enrolled".to_owned(),
            conference,
            invitee,
            dial_in,
            ..Self::default()
        }
    }

    /// The invitation form's error for `field` in conference `name`, if any.
    pub fn invite_error(&self, name: &str, field: &str) -> String {
        match &self.invite_errors {
            Some((c, n, d)) if c == name => match field {
                "name" => n.clone().unwrap_or_default(),
                _ => d.clone().unwrap_or_default(),
            },
            _ => String::new(),
        }
    }
}
