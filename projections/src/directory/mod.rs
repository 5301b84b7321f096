//! The directory: groups (the organizational tree), their classes and tools, and who is a
//! member of which group or class.
//!
//! `projection.rs` keeps it: one projection writes all of its tables (`groups`, `classes`,
//! `tools`, `group_members`, `class_members`), under the subscriber name `groups` (the
//! module doc there says why the name stays). `queries.rs` reads it for the API and the
//! reactions (groups, classes, tools, members, a user's memberships, who to tell), and
//! `facts.rs` reads the facts authorization decides on.

mod facts;
mod projection;
mod queries;

pub use facts::{account_facts, class_facts, group_facts, AccountFacts, ClassFacts, GroupFacts};
pub use projection::{DirectoryProjection, DIRECTORY_CHANNEL, NAME};
pub use queries::{
    class_teachers, classes_of_group, contact, get_class, get_group, get_tool, group_chain,
    group_members_with_roles, group_overseers, group_subtree, list_groups, members_of_class,
    members_of_group, memberships_of, system_admins, tools_of_group, ClassRow, GroupCursor,
    GroupListing, GroupPath, GroupRow, GroupSubtree, MemberRow, MembershipRow, ToolRow,
};
