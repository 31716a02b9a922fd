//! EFS kinds of the data tier: the shared file system, its mount targets and access points.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, ReplacePolicy, ResourceKind, kind, minutes, refs,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSystemSpec {
    /// `<stack>-efs`: the idempotency token of the create call.
    pub creation_token: String,
    pub encrypted: bool,
    pub performance_mode: String,
    pub backup: bool,
}

impl FileSystemSpec {
    pub const CREATION_TOKEN: FieldDef = FieldDef::immutable("creation_token");
    pub const ENCRYPTED: FieldDef = FieldDef::immutable("encrypted");
    pub const PERFORMANCE_MODE: FieldDef = FieldDef::immutable("performance_mode");
    pub const BACKUP: FieldDef = FieldDef::mutable("backup");
    pub const OUT_DNS_NAME: &str = "dns_name";
}

impl Kind for FileSystemSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_DNS_NAME];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::CREATION_TOKEN.of(self.creation_token.as_str()),
            Self::ENCRYPTED.of(self.encrypted),
            Self::PERFORMANCE_MODE.of(self.performance_mode.as_str()),
            Self::BACKUP.of(self.backup),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A mount target in one zone. Not taggable: it belongs to the stack by being in its file
/// system, and its logical id is `<fs>.mount.<zone letter>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTargetSpec {
    pub file_system: Ref<kind::FileSystem>,
    pub subnet: Ref<kind::Subnet>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
}

impl MountTargetSpec {
    pub const FILE_SYSTEM_ID: FieldDef = FieldDef::immutable("file_system_id");
    pub const SUBNET_ID: FieldDef = FieldDef::immutable("subnet_id");
    pub const SECURITY_GROUPS: FieldDef = FieldDef::mutable("security_groups");
    pub const OUT_IP_ADDRESS: &str = "ip_address";
}

impl Kind for MountTargetSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::FileSystem,
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_IP_ADDRESS];
    const TIMEOUT: Duration = minutes(30);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::FILE_SYSTEM_ID.of(self.file_system.value()),
            Self::SUBNET_ID.of(self.subnet.value()),
            Self::SECURITY_GROUPS.of(refs(&self.security_groups)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPointSpec {
    pub file_system: Ref<kind::FileSystem>,
    /// `/media`, created with the owner below if missing.
    pub path: String,
    pub uid: i64,
    pub gid: i64,
    pub permissions: String,
}

impl AccessPointSpec {
    pub const FILE_SYSTEM_ID: FieldDef = FieldDef::immutable("file_system_id");
    pub const PATH: FieldDef = FieldDef::immutable("path");
    pub const POSIX_UID: FieldDef = FieldDef::immutable("posix_uid");
    pub const POSIX_GID: FieldDef = FieldDef::immutable("posix_gid");
    pub const PERMISSIONS: FieldDef = FieldDef::immutable("permissions");
    pub const OUT_ARN: &str = "arn";
}

impl Kind for AccessPointSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::FileSystem];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::FILE_SYSTEM_ID.of(self.file_system.value()),
            Self::PATH.of(self.path.as_str()),
            Self::POSIX_UID.of(self.uid),
            Self::POSIX_GID.of(self.gid),
            Self::PERMISSIONS.of(self.permissions.as_str()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
