//! The `chatsupport.v1` gRPC contract: generated message types, the `SupportAdmin` client and
//! server, and the encoded file descriptor set that the daemon serves through reflection.
//! Besides the generated code, only what both front ends (the admin CLI and the console) must
//! say the same way: [`activity`] lines. Conversions to domain types happen in the daemon.

pub mod activity;

/// Package `chatsupport.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("chatsupport.v1");
}

/// The encoded `FileDescriptorSet` of the contract (with its imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/chatsupport_descriptor.bin"));
