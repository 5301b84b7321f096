//! The directory projection's former path. Everything here is re-exported from
//! [`crate::directory`], which keeps the whole directory (groups, classes, tools and
//! memberships) and says why its subscriber is still named `groups`; new code imports from
//! there.

pub use crate::directory::{
    get_group as get, list_groups as list, DirectoryProjection as GroupsProjection, GroupCursor,
    GroupListing, GroupPath, GroupRow, DIRECTORY_CHANNEL, NAME,
};
