//! Who a safety concern's alerts go to, level by level: plain rules over the class's group
//! chain and the people in it (looked up by [`super::safety`]).
//!
//! - level 0, `immediate`: the admins and counselors of the nearest group that has any, and
//!   the counselors of the nearest group that has counselors (often the district's), so that
//!   a counselor hears of it at once wherever they sit;
//! - level 0, `same_day`: the counselors of the nearest group that has some, or failing that
//!   the admins and counselors of the nearest group that has any;
//! - each escalation: the admins and counselors of the next group up (above the group the
//!   previous level went to) that has any; past the root, the system admins (the last level);
//! - the `monitor` follow-up: as `same_day`'s level 0.
//!
//! Groups where nobody is left to alert are passed over. The student the concern is about is
//! never alerted, whatever role they hold (they never see a concern about themselves).

use domain::group::GroupId;
use domain::learning::Urgency;
use domain::safety_escalation::AlertTarget;
use domain::user::UserId;

/// The enabled people who hold a role in one group of the chain (in that group itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupHandlers {
    pub group_id: GroupId,
    pub admins: Vec<UserId>,
    pub counselors: Vec<UserId>,
}

/// One level's alert: whom it goes to, as recorded on the concern, and the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub target: AlertTarget,
    /// Sorted, each once; may be empty (the last level when there is no system admin).
    pub recipients: Vec<UserId>,
}

/// The ladder of one concern.
#[derive(Debug, Clone, Copy)]
pub struct AudienceLadder<'a> {
    /// The class's group first, the root last.
    pub chain: &'a [GroupHandlers],
    /// The enabled system admins.
    pub system_admins: &'a [UserId],
    /// The student the concern is about.
    pub student: UserId,
}

impl AudienceLadder<'_> {
    /// Level 0 for `urgency` (`monitor` is alerted only by its follow-up: as `same_day`).
    pub fn first(&self, urgency: Urgency) -> Audience {
        let counselors = self.nearest_counselors(self.chain);
        match (urgency, counselors) {
            (Urgency::Immediate, counselors) => {
                let mut audience = self.handlers_from(self.chain);
                if let Some(counselors) = counselors {
                    audience.recipients.extend(counselors.recipients);
                    audience.recipients.sort();
                    audience.recipients.dedup();
                }
                audience
            }
            (_, Some(counselors)) => counselors,
            (_, None) => self.handlers_from(self.chain),
        }
    }

    /// The level after the one that went to `previous`; `None` after the system admins.
    /// A group no longer in the chain (the class moved since) leads to the system admins.
    pub fn after(&self, previous: AlertTarget) -> Option<Audience> {
        let AlertTarget::Group { group_id } = previous else {
            return None;
        };
        let above = self
            .chain
            .iter()
            .position(|g| g.group_id == group_id)
            .map_or(&self.chain[..0], |i| &self.chain[i + 1..]);
        Some(self.handlers_from(above))
    }

    /// Who the follow-up of a `monitor` concern asks for a review.
    pub fn follow_up(&self) -> Audience {
        self.first(Urgency::SameDay)
    }

    fn others(&self, people: &[UserId]) -> Vec<UserId> {
        let mut people: Vec<UserId> = people
            .iter()
            .copied()
            .filter(|p| *p != self.student)
            .collect();
        people.sort();
        people.dedup();
        people
    }

    /// The counselors of the nearest group of `groups` that has some.
    fn nearest_counselors(&self, groups: &[GroupHandlers]) -> Option<Audience> {
        groups.iter().find_map(|group| {
            let recipients = self.others(&group.counselors);
            (!recipients.is_empty()).then_some(Audience {
                target: AlertTarget::Group {
                    group_id: group.group_id,
                },
                recipients,
            })
        })
    }

    /// The admins and counselors of the nearest group of `groups` that has any, else the
    /// system admins.
    fn handlers_from(&self, groups: &[GroupHandlers]) -> Audience {
        groups
            .iter()
            .find_map(|group| {
                let both = [group.admins.as_slice(), group.counselors.as_slice()].concat();
                let recipients = self.others(&both);
                (!recipients.is_empty()).then_some(Audience {
                    target: AlertTarget::Group {
                        group_id: group.group_id,
                    },
                    recipients,
                })
            })
            .unwrap_or_else(|| Audience {
                target: AlertTarget::SystemAdmins,
                recipients: self.others(self.system_admins),
            })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    // Groups: a department (nobody), its school, the district.
    const DEPARTMENT: u128 = 1;
    const SCHOOL: u128 = 2;
    const DISTRICT: u128 = 3;
    // People.
    const SCHOOL_ADMIN: u128 = 10;
    const SCHOOL_COUNSELOR: u128 = 11;
    const DISTRICT_ADMIN: u128 = 20;
    const DISTRICT_COUNSELOR: u128 = 21;
    const SYSTEM_ADMIN: u128 = 30;
    const STUDENT: u128 = 40;

    fn group(n: u128, admins: &[u128], counselors: &[u128]) -> GroupHandlers {
        GroupHandlers {
            group_id: id(n),
            admins: admins.iter().copied().map(id).collect(),
            counselors: counselors.iter().copied().map(id).collect(),
        }
    }

    /// The department has nobody; the school an admin; the district an admin and a
    /// counselor.
    fn chain() -> Vec<GroupHandlers> {
        vec![
            group(DEPARTMENT, &[], &[]),
            group(SCHOOL, &[SCHOOL_ADMIN], &[]),
            group(DISTRICT, &[DISTRICT_ADMIN], &[DISTRICT_COUNSELOR]),
        ]
    }

    fn ladder<'a>(chain: &'a [GroupHandlers], system_admins: &'a [UserId]) -> AudienceLadder<'a> {
        AudienceLadder {
            chain,
            system_admins,
            student: id(STUDENT),
        }
    }

    fn at(group: u128, people: &[u128]) -> Audience {
        Audience {
            target: AlertTarget::Group {
                group_id: id(group),
            },
            recipients: people.iter().copied().map(id).collect(),
        }
    }

    fn system_admins(people: &[u128]) -> Audience {
        Audience {
            target: AlertTarget::SystemAdmins,
            recipients: people.iter().copied().map(id).collect(),
        }
    }

    /// Every level from `first` up, as the escalation walks them.
    fn walk(ladder: &AudienceLadder<'_>, first: Audience) -> Vec<Audience> {
        let mut levels = vec![first];
        while let Some(next) = ladder.after(levels.last().unwrap().target) {
            levels.push(next);
            assert!(levels.len() < 10, "the ladder ends");
        }
        levels
    }

    #[test]
    fn an_immediate_concern_climbs_from_the_nearest_admins_to_the_system_admins() {
        let chain = chain();
        let admins = [id(SYSTEM_ADMIN)];
        let ladder = ladder(&chain, &admins);
        // The department is passed over; the district's counselor hears of it at once.
        let first = ladder.first(Urgency::Immediate);
        assert_eq!(first, at(SCHOOL, &[SCHOOL_ADMIN, DISTRICT_COUNSELOR]));
        assert_eq!(
            walk(&ladder, first),
            [
                at(SCHOOL, &[SCHOOL_ADMIN, DISTRICT_COUNSELOR]),
                at(DISTRICT, &[DISTRICT_ADMIN, DISTRICT_COUNSELOR]),
                system_admins(&[SYSTEM_ADMIN]),
            ]
        );
    }

    #[test]
    fn a_same_day_concern_goes_to_the_nearest_counselors_first() {
        let mut chain = chain();
        let admins = [id(SYSTEM_ADMIN)];
        let first = ladder(&chain, &admins).first(Urgency::SameDay);
        assert_eq!(first, at(DISTRICT, &[DISTRICT_COUNSELOR]));
        assert_eq!(
            walk(&ladder(&chain, &admins), first),
            [
                at(DISTRICT, &[DISTRICT_COUNSELOR]),
                system_admins(&[SYSTEM_ADMIN])
            ]
        );
        // With a counselor on the school: the school's counselor, then the district (the
        // school's admin is passed over), then the system admins.
        chain[1].counselors.push(id(SCHOOL_COUNSELOR));
        let ladder = ladder(&chain, &admins);
        let first = ladder.first(Urgency::SameDay);
        assert_eq!(
            walk(&ladder, first),
            [
                at(SCHOOL, &[SCHOOL_COUNSELOR]),
                at(DISTRICT, &[DISTRICT_ADMIN, DISTRICT_COUNSELOR]),
                system_admins(&[SYSTEM_ADMIN]),
            ]
        );
        // An immediate concern tells the school's admin and counselor together.
        assert_eq!(
            ladder.first(Urgency::Immediate),
            at(SCHOOL, &[SCHOOL_ADMIN, SCHOOL_COUNSELOR])
        );
    }

    #[test]
    fn without_counselors_same_day_goes_to_the_nearest_admins() {
        let chain = vec![
            group(SCHOOL, &[SCHOOL_ADMIN], &[]),
            group(DISTRICT, &[DISTRICT_ADMIN], &[]),
        ];
        let admins = [id(SYSTEM_ADMIN)];
        let ladder = ladder(&chain, &admins);
        assert_eq!(ladder.first(Urgency::SameDay), at(SCHOOL, &[SCHOOL_ADMIN]));
        assert_eq!(
            ladder.first(Urgency::Immediate),
            at(SCHOOL, &[SCHOOL_ADMIN])
        );
    }

    #[test]
    fn the_follow_up_asks_whom_same_day_would_alert() {
        let chain = chain();
        let admins = [id(SYSTEM_ADMIN)];
        let ladder = ladder(&chain, &admins);
        assert_eq!(ladder.follow_up(), ladder.first(Urgency::SameDay));
        assert_eq!(
            ladder.first(Urgency::Monitor),
            ladder.first(Urgency::SameDay)
        );
    }

    #[test]
    fn with_nobody_in_the_tree_the_system_admins_are_the_first_and_last_level() {
        let chain = vec![group(SCHOOL, &[], &[]), group(DISTRICT, &[], &[])];
        let admins = [id(SYSTEM_ADMIN), id(SYSTEM_ADMIN + 1)];
        let ladder = ladder(&chain, &admins);
        for urgency in [Urgency::Immediate, Urgency::SameDay] {
            let first = ladder.first(urgency);
            assert_eq!(first, system_admins(&[SYSTEM_ADMIN, SYSTEM_ADMIN + 1]));
            assert_eq!(ladder.after(first.target), None);
        }
        // No system admin either: the last level reaches nobody.
        let ladder = AudienceLadder {
            system_admins: &[],
            ..ladder
        };
        assert_eq!(ladder.first(Urgency::Immediate), system_admins(&[]));
    }

    #[test]
    fn a_group_no_longer_in_the_chain_leads_to_the_system_admins() {
        let chain = chain();
        let admins = [id(SYSTEM_ADMIN)];
        let moved_from = AlertTarget::Group { group_id: id(99) };
        assert_eq!(
            ladder(&chain, &admins).after(moved_from),
            Some(system_admins(&[SYSTEM_ADMIN]))
        );
    }

    #[test]
    fn the_student_is_never_alerted_whatever_their_role() {
        // The student is the school's only counselor and admin, and a system admin.
        let chain = vec![
            group(SCHOOL, &[STUDENT], &[STUDENT]),
            group(DISTRICT, &[DISTRICT_ADMIN], &[DISTRICT_COUNSELOR]),
        ];
        let admins = [id(STUDENT), id(SYSTEM_ADMIN)];
        let ladder = ladder(&chain, &admins);
        assert_eq!(
            ladder.first(Urgency::SameDay),
            at(DISTRICT, &[DISTRICT_COUNSELOR])
        );
        let first = ladder.first(Urgency::Immediate);
        assert_eq!(first, at(DISTRICT, &[DISTRICT_ADMIN, DISTRICT_COUNSELOR]));
        assert_eq!(
            ladder.after(first.target),
            Some(system_admins(&[SYSTEM_ADMIN]))
        );
        assert!(walk(&ladder, ladder.first(Urgency::Immediate))
            .iter()
            .all(|level| !level.recipients.contains(&id(STUDENT))));
    }
}
