//! The `chatsupport.v1` gRPC contract: generated message types, the `SupportAdmin` client and
//! server, and the encoded file descriptor set that the daemon serves through reflection.
//!
//! - [`client`]: the one typed client of the front ends (`bot-daemon admin`, `admin-tui`): the
//!   address, TLS, the bearer token and where it is found.
//! - [`words`]: the contract's enums as the lowercase words people and scripts see.
//! - [`activity`]: a conversation's activity entries as the lines both front ends print.
//!
//! Conversions to the daemon's domain types happen in the daemon.

pub mod activity;
pub mod client;
pub mod words;

/// Package `chatsupport.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("chatsupport.v1");
}

/// The encoded `FileDescriptorSet` of the contract (with its imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/chatsupport_descriptor.bin"));
