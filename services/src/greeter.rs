//! `helloworld.Greeter`: `Hello, {name}!` and `Hello again, {name}!`.

use faultline_proto::helloworld::greeter_server;
use faultline_proto::helloworld::{HelloReply, HelloRequest};
use tonic::{Request, Response, Status};

/// The tutorial's Greeter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Greeter;

impl Greeter {
    /// This greeter as a tonic service, ready to add to any server.
    pub fn into_service(self) -> greeter_server::GreeterServer<Self> {
        greeter_server::GreeterServer::new(self)
    }
}

/// The reply to `SayHello`.
pub fn hello(name: &str) -> HelloReply {
    HelloReply { message: format!("Hello, {name}!") }
}

/// The reply to `SayHelloAgain`.
pub fn hello_again(name: &str) -> HelloReply {
    HelloReply { message: format!("Hello again, {name}!") }
}

#[tonic::async_trait]
impl greeter_server::Greeter for Greeter {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(hello(&request.get_ref().name)))
    }

    async fn say_hello_again(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(hello_again(&request.get_ref().name)))
    }
}
