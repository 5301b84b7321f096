//! The deterministic ids of the workflows: instances, timers and effects are named by what
//! caused them (UUID v5), so doing a step again after a crash, on a replay or in a second
//! process addresses the same thing and changes nothing.

use uuid::Uuid;

/// The namespace of workflow ids ("rapt-workflows").
const NAMESPACE: Uuid = Uuid::from_u128(0x7261_7074_2d77_6f72_6b66_6c6f_7773_0001);

fn derive(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The intervention a struggle detection starts (when none runs for its session and topic).
pub fn intervention(detection_id: Uuid) -> Uuid {
    derive(&format!("struggle_intervention/{detection_id}"))
}

/// The safety concern (and its escalation) a safety detection opens.
pub fn safety_concern(detection_id: Uuid) -> Uuid {
    derive(&format!("safety_escalation/{detection_id}"))
}

/// A timer of an instance, by purpose (`recheck`, `ack/0`, `follow_up`).
pub fn timer(instance_id: Uuid, purpose: &str) -> Uuid {
    derive(&format!("timer/{instance_id}/{purpose}"))
}

/// The message an intervention posts into the learning session.
pub fn intervention_message(instance_id: Uuid) -> Uuid {
    derive(&format!("message/{instance_id}"))
}

/// The key two struggle detections share when they are "on the same topic": trimmed,
/// lowercase, inner white space folded to one space.
pub fn topic_key(topic: &str) -> String {
    topic
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct_by_cause() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(intervention(a), intervention(a));
        assert_ne!(intervention(a), intervention(b));
        assert_ne!(intervention(a), safety_concern(a));
        assert_ne!(timer(a, "recheck"), timer(a, "ack/0"));
        assert_ne!(timer(a, "recheck"), timer(b, "recheck"));
        assert_ne!(intervention_message(a), intervention(a));
    }

    #[test]
    fn topics_match_regardless_of_case_and_spacing() {
        assert_eq!(topic_key("  Long   Division "), "long division");
        assert_eq!(topic_key("Fractions"), topic_key("fractions"));
        assert_ne!(topic_key("fractions"), topic_key("decimals"));
    }
}
