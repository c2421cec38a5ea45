//! The agents' gRPC API as a client: the bearer token on every call.

use std::net::SocketAddr;

use anyhow::Result;
use proto::v1::support_admin_client::SupportAdminClient;
use tonic::{
    codegen::InterceptedService, service::Interceptor, transport::Channel, Request, Status,
};

#[derive(Clone)]
pub(crate) struct Bearer;

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let v = format!("Bearer {}", tests::ADMIN_TOKEN)
            .parse()
            .map_err(|_| Status::internal("bad header"))?;
        req.metadata_mut().insert("authorization", v);
        Ok(req)
    }
}

pub(crate) type Client = SupportAdminClient<InterceptedService<Channel, Bearer>>;

/// A client on its own HTTP/2 connection (each agent's console has one).
pub(crate) async fn client(addr: SocketAddr) -> Result<Client> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    Ok(SupportAdminClient::with_interceptor(channel, Bearer)
        .max_decoding_message_size(64 * 1024 * 1024))
}
