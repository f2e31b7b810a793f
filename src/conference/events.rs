//! The TwiML family's conference status callbacks (Twilio, SignalWire, Telnyx TeXML: one
//! form shape), read into a carrier-neutral [`ConferenceEvent`]. The webhook is authenticated
//! by the carrier before anything here runs.

use crate::carrier::{Form, WebhookError};

/// What happened in a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The conference started (a participant with `startConferenceOnEnter` joined).
    Start,
    /// The conference ended.
    End,
    /// A call joined.
    Join,
    /// A call left.
    Leave,
    /// A call was muted.
    Mute,
    /// A call was unmuted.
    Unmute,
    /// A call was put on hold.
    Hold,
    /// A call was taken off hold.
    Unhold,
    /// Anything else (speaker, modify, announcement): ignored.
    Other,
}

impl EventKind {
    /// Reads `StatusCallbackEvent`.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "conference-start" => Self::Start,
            "conference-end" => Self::End,
            "participant-join" => Self::Join,
            "participant-leave" => Self::Leave,
            "participant-mute" => Self::Mute,
            "participant-unmute" => Self::Unmute,
            "participant-hold" => Self::Hold,
            "participant-unhold" => Self::Unhold,
            _ => Self::Other,
        }
    }

    /// Whether the event is about one call.
    pub fn is_participant(self) -> bool {
        !matches!(self, Self::Start | Self::End | Self::Other)
    }

    /// The name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Hold => "hold",
            Self::Unhold => "unhold",
            Self::Other => "other",
        }
    }
}

/// One conference event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceEvent {
    /// The carrier's id of this conference (a new one each time a conference of that name
    /// starts).
    pub conference_sid: String,
    /// The conference's name (`FriendlyName`: the name the server wrote into `<Conference>`).
    pub name: String,
    /// What happened.
    pub kind: EventKind,
    /// The call it is about, for participant events.
    pub call_id: Option<String>,
    /// `Muted`, when sent.
    pub muted: Option<bool>,
    /// `Hold`, when sent.
    pub hold: Option<bool>,
    /// `SequenceNumber`: the order of events within one conference, when the carrier sends it.
    pub sequence: Option<u64>,
    /// Whether a leave was a removal (by the API or a moderator), not the caller's own
    /// hang-up: a removed caller may not rejoin without a code.
    pub removed: bool,
}

/// The longest id or name accepted.
const MAX_LEN: usize = 256;

fn id(form: &Form, name: &str) -> Result<String, WebhookError> {
    let value = form.required(name)?;
    if value.len() > 128
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
    {
        return Err(WebhookError::BadParameter(format!(
            "{name} is not a carrier id"
        )));
    }
    Ok(value.to_owned())
}

fn flag(form: &Form, name: &str) -> Option<bool> {
    match form.get(name)? {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads a status callback's form.
pub fn decode(form: &Form) -> Result<ConferenceEvent, WebhookError> {
    let kind = EventKind::parse(form.required("StatusCallbackEvent")?);
    let name = form.required("FriendlyName")?;
    if name.len() > MAX_LEN || name.chars().any(char::is_control) {
        return Err(WebhookError::BadParameter(
            "FriendlyName is not a conference name".to_owned(),
        ));
    }
    let call_id = if kind.is_participant() {
        Some(id(form, "CallSid")?)
    } else {
        None
    };
    let sequence = match form.get("SequenceNumber") {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<u64>().map_err(|_| {
            WebhookError::BadParameter("SequenceNumber is not a number".to_owned())
        })?),
    };
    let removed = matches!(
        form.get("ReasonParticipantLeft"),
        Some(
            "participant_updated_via_api"
                | "conference_ended_via_api"
                | "moderator_ended_conference"
        )
    );
    Ok(ConferenceEvent {
        conference_sid: id(form, "ConferenceSid")?,
        name: name.to_owned(),
        kind,
        call_id,
        muted: flag(form, "Muted"),
        hold: flag(form, "Hold"),
        sequence,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Form::decode(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_join_is_read_with_its_call_and_order() {
        let e = decode(&form(&[
            ("ConferenceSid", "CF0123"),
            ("FriendlyName", "Weekly sync"),
            ("StatusCallbackEvent", "participant-join"),
            ("CallSid", "CA0123"),
            ("Muted", "false"),
            ("Hold", "false"),
            ("SequenceNumber", "3"),
        ]))
        .unwrap();
        assert_eq!(e.kind, EventKind::Join);
        assert_eq!(e.call_id.as_deref(), Some("CA0123"));
        assert_eq!(
            (e.muted, e.hold, e.sequence),
            (Some(false), Some(false), Some(3))
        );
        assert!(!e.removed);
    }

    #[test]
    fn bad_ids_and_missing_fields_are_refused() {
        for pairs in [
            &[
                ("FriendlyName", "W"),
                ("StatusCallbackEvent", "conference-start"),
            ][..],
            &[
                ("ConferenceSid", "CF 1"),
                ("FriendlyName", "W"),
                ("StatusCallbackEvent", "conference-start"),
            ][..],
            &[
                ("ConferenceSid", "CF1"),
                ("FriendlyName", "W"),
                ("StatusCallbackEvent", "participant-join"),
            ][..],
            &[
                ("ConferenceSid", "CF1"),
                ("FriendlyName", "W"),
                ("StatusCallbackEvent", "conference-start"),
                ("SequenceNumber", "x"),
            ][..],
        ] {
            assert!(decode(&form(pairs)).is_err(), "{pairs:?}");
        }
    }

    #[test]
    fn a_removal_is_told_apart_from_a_hang_up() {
        let e = decode(&form(&[
            ("ConferenceSid", "CF1"),
            ("FriendlyName", "W"),
            ("StatusCallbackEvent", "participant-leave"),
            ("CallSid", "CA1"),
            ("ReasonParticipantLeft", "participant_updated_via_api"),
        ]))
        .unwrap();
        assert!(e.removed);
    }
}
