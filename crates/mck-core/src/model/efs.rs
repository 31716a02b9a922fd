//! EFS kinds of the data tier: the shared file system, its mount targets and access points.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// An EFS file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSystemSpec {
    /// `<stack>-efs`: the idempotency token of the create call.
    pub creation_token: String,
    /// Encrypted at rest.
    pub encrypted: bool,
    /// `generalPurpose` or `maxIO`.
    pub performance_mode: String,
    /// AWS Backup on.
    pub backup: bool,
}

impl FileSystemSpec {
    /// Field `creation_token`: a change replaces the resource.
    pub const CREATION_TOKEN: FieldDef = FieldDef::immutable("creation_token");
    /// Field `encrypted`: a change replaces the resource.
    pub const ENCRYPTED: FieldDef = FieldDef::immutable("encrypted");
    /// Field `performance_mode`: a change replaces the resource.
    pub const PERFORMANCE_MODE: FieldDef = FieldDef::immutable("performance_mode");
    /// Field `backup`: changed in place.
    pub const BACKUP: FieldDef = FieldDef::mutable("backup");
    /// Output `dns_name`.
    pub const OUT_DNS_NAME: &str = "dns_name";
    /// Output `arn` (what AWS Backup selects).
    pub const OUT_ARN: &str = "arn";
}

impl Kind for FileSystemSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_DNS_NAME, Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

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
    /// The EFS file system.
    pub file_system: Ref<kind::FileSystem>,
    /// The subnet it sits in.
    pub subnet: Ref<kind::Subnet>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
}

impl MountTargetSpec {
    /// Field `file_system_id`: a change replaces the resource.
    pub const FILE_SYSTEM_ID: FieldDef = FieldDef::immutable("file_system_id");
    /// Field `subnet_id`: a change replaces the resource.
    pub const SUBNET_ID: FieldDef = FieldDef::immutable("subnet_id");
    /// Field `security_groups`: changed in place.
    pub const SECURITY_GROUPS: FieldDef = FieldDef::mutable("security_groups");
    /// Output `ip_address`.
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
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

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

/// An EFS access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPointSpec {
    /// The EFS file system.
    pub file_system: Ref<kind::FileSystem>,
    /// `/media`, created with the owner below if missing.
    pub path: String,
    /// POSIX user id.
    pub uid: i64,
    /// POSIX group id.
    pub gid: i64,
    /// POSIX permissions of the root directory (octal).
    pub permissions: String,
}

impl AccessPointSpec {
    /// Field `file_system_id`: a change replaces the resource.
    pub const FILE_SYSTEM_ID: FieldDef = FieldDef::immutable("file_system_id");
    /// Field `path`: a change replaces the resource.
    pub const PATH: FieldDef = FieldDef::immutable("path");
    /// Field `posix_uid`: a change replaces the resource.
    pub const POSIX_UID: FieldDef = FieldDef::immutable("posix_uid");
    /// Field `posix_gid`: a change replaces the resource.
    pub const POSIX_GID: FieldDef = FieldDef::immutable("posix_gid");
    /// Field `permissions`: a change replaces the resource.
    pub const PERMISSIONS: FieldDef = FieldDef::immutable("permissions");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
}

impl Kind for AccessPointSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::FileSystem];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

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
