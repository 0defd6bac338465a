//! The contract's calls as the handlers use them: typed requests in, typed
//! replies or on-prem errors out.
//!
//! A [`CoreApi`] is one coreapp picked by [`Cores`] for a call. Each call
//! answers the reply, or the on-prem error the coreapp answered with (read
//! by `proto::errors::answered`), or, when no coreapp answered at all,
//! 500/1014 "Unable to reach coreapp" with the transport failure logged. A
//! handler writes `state.cores.any().get_shards(Empty {}).await?` and gets
//! what it would answer.

use std::net::SocketAddr;

use proto::core::core_client::CoreClient;
use proto::core::*;
use tonic::transport::Channel;
use tonic::{Response, Status};
use wire::{ApiError, ErrorCode};

use super::Cores;

/// Other coreapps tried when the one picked for a call that may be made
/// again did not answer.
const MAX_REROUTES: usize = 2;

/// One coreapp, picked for a call.
pub struct CoreApi {
    client: CoreClient<Channel>,
    /// Whether a call no coreapp answered is logged (background pollers,
    /// which log their own way, turn it off).
    log_unanswered: bool,
}

impl CoreApi {
    pub(super) fn new(client: CoreClient<Channel>) -> Self {
        CoreApi { client, log_unanswered: true }
    }

    /// For background pollers: a call no coreapp answered is left for the
    /// caller to log (the on-prem error is the same).
    pub fn quiet(mut self) -> Self {
        self.log_unanswered = false;
        self
    }

    fn reply<T>(&self, answer: Result<Response<T>, Status>) -> Result<T, ApiError> {
        answer.map(Response::into_inner).map_err(|status| {
            proto::errors::answered(&status).unwrap_or_else(|| {
                if self.log_unanswered {
                    tracing::error!(grpc_code = ?status.code(), message = status.message(), "coreapp call failed");
                }
                unanswered()
            })
        })
    }
}

/// What a handler answers when a call failed: the coreapp's own on-prem
/// error, or, when none answered, 500/1014.
pub fn api_error(status: Status) -> ApiError {
    proto::errors::answered(&status).unwrap_or_else(|| {
        tracing::error!(grpc_code = ?status.code(), message = status.message(), "coreapp call failed");
        unanswered()
    })
}

/// The answer when no coreapp answered.
fn unanswered() -> ApiError {
    ApiError::new(ErrorCode::InternalError, "Unable to reach coreapp. Please check if it is running")
}

fn reply<T>(answer: Result<Response<T>, Status>) -> Result<T, ApiError> {
    answer.map(Response::into_inner).map_err(api_error)
}

/// One method per unary call of the contract, named and typed as the proto
/// declares it.
macro_rules! unary_calls {
    ($($name:ident($request:ty) -> $reply:ty;)*) => {
        impl CoreApi {
            $(
                pub async fn $name(mut self, request: $request) -> Result<$reply, ApiError> {
                    let answer = self.client.$name(request).await;
                    self.reply(answer)
                }
            )*
        }
    };
}

unary_calls! {
    login(LoginRequest) -> LoginReply;
    auth_config(Empty) -> AuthConfigReply;
    revoke_token(RevokeTokenRequest) -> Empty;
    list_revocations(Empty) -> RevocationList;
    create_user(UserRequest) -> UserReply;
    get_user(UserName) -> UserReply;
    update_user(UserRequest) -> UserReply;
    delete_user(UserName) -> UserReply;
    get_settings(Empty) -> SettingsReply;
    patch_settings(SettingsPatch) -> SettingsReply;
    reset_settings(Empty) -> SettingsReply;
    health(Empty) -> HealthReply;
    mark_read(MessageId) -> Empty;
    check_contacts(CheckContactsRequest) -> ContactResults;
    get_identity(WaId) -> IdentityKey;
    acknowledge_identity(AcknowledgeIdentityRequest) -> Empty;
    set_webhook_ca(Pem) -> Empty;
    get_webhook_ca(Empty) -> Pem;
    delete_webhook_ca(Empty) -> Empty;
    delete_media(MediaId) -> Empty;
    stats(Empty) -> NodeMetrics;
    db_stats(Empty) -> NodeMetrics;
    support(Empty) -> JsonDoc;
    get_web_certificate(Empty) -> WebCertificate;
    put_web_certificate_if_absent(WebCertificate) -> WebCertificate;
    set_web_certificate(WebCertificate) -> Empty;
    get_profile(Empty) -> JsonDoc;
    update_profile(JsonDoc) -> Empty;
    set_profile_photo(Photo) -> Empty;
    get_profile_photo(PhotoRequest) -> Photo;
    get_compliance_info(Empty) -> JsonDoc;
    set_compliance_info(JsonDoc) -> Empty;
    set_two_step_pin(Pin) -> Empty;
    get_account(Empty) -> JsonDoc;
    get_shards(Empty) -> Shards;
    set_shards(Shards) -> Empty;
    list_media_providers(Empty) -> MediaProviders;
    put_media_provider(MediaProvider) -> Empty;
    delete_media_provider(Name) -> Empty;
    backup(BackupRequest) -> BackupReply;
    restore(RestoreRequest) -> Empty;
    purge_messages(PurgeRequest) -> PurgeReply;
    collect_garbage(GarbageRequest) -> Empty;
}

impl CoreApi {
    /// Streams an upload; the stream ends with `end` once complete, and a
    /// stream that stops before it stores nothing.
    pub async fn upload_media(
        mut self,
        chunks: impl tonic::IntoStreamingRequest<Message = MediaChunk>,
    ) -> Result<MediaId, ApiError> {
        let answer = self.client.upload_media(chunks).await;
        self.reply(answer)
    }

    /// A download: `info` first, then `data` chunks. A chunk that fails
    /// mid-stream is read with [`api_error`].
    pub async fn download_media(mut self, id: MediaId) -> Result<tonic::Streaming<MediaChunk>, ApiError> {
        let answer = self.client.download_media(id).await;
        self.reply(answer)
    }
}

impl Cores {
    /// Stores a message through the coreapp that owns its recipient. The
    /// request carries the message's id, so storing it again is harmless:
    /// when that coreapp does not answer, it leaves rotation and the next
    /// in line is asked.
    pub async fn send_message(&self, request: SendMessageRequest) -> Result<SendMessageReply, ApiError> {
        let recipient = request.recipient.clone();
        self.with_failover(
            "message",
            request,
            |cores, avoid| cores.for_recipient(&recipient, avoid),
            |mut c, r| async move { c.send_message(r).await },
        )
        .await
    }

    /// Stores a Cloud webhook through any coreapp. Storing one twice is
    /// harmless (the intake drops duplicates), so one that does not answer
    /// is passed over for the next.
    pub async fn ingest_cloud_webhook(&self, request: CloudWebhook) -> Result<Empty, ApiError> {
        self.with_failover(
            "Cloud webhook",
            request,
            |cores, avoid| cores.any_avoiding(avoid),
            |mut c, r| async move { c.ingest_cloud_webhook(r).await },
        )
        .await
    }

    /// Makes a call that may safely be made again, on the node `pick`
    /// gives, and on the next ones while none answers.
    async fn with_failover<Req: Clone, T, F>(
        &self,
        what: &str,
        request: Req,
        pick: impl Fn(&Cores, &[SocketAddr]) -> (Option<SocketAddr>, CoreClient<Channel>),
        call: impl Fn(CoreClient<Channel>, Req) -> F,
    ) -> Result<T, ApiError>
    where
        F: Future<Output = Result<Response<T>, Status>>,
    {
        let mut avoid = Vec::new();
        loop {
            let (node, client) = pick(self, &avoid);
            match call(client, request.clone()).await {
                Err(status) if proto::errors::answered(&status).is_none() && avoid.len() < MAX_REROUTES => {
                    let Some(node) = node else { return reply(Err(status)) };
                    tracing::warn!(%node, error = status.message(), "coreapp did not answer; the {what} goes through another");
                    self.mark_down(node);
                    avoid.push(node);
                }
                answer => return reply(answer),
            }
        }
    }
}
