//! Cloud API error codes: Meta's title, HTTP status and a default `details`
//! for each (`docs/cloud-api.md` §6.3). The one table that decides them, for the
//! synchronous Graph envelope and for `errors[]` in webhooks alike.

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: u32,
    /// Meta's title; webhooks repeat it as `message`.
    pub title: &'static str,
    /// The HTTP status of a synchronous answer with this code.
    pub http: u16,
    /// `error_data.details` when the caller has nothing more specific.
    pub details: &'static str,
}

/// Where webhook errors point (`errors[].href`), as in the real payloads.
pub const HREF: &str = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

/// `error_subcode` of the throughput error in Meta's sample (`docs/cloud-api.md` §6.1).
pub const THROUGHPUT_SUBCODE: u32 = 2_494_055;

const fn row(code: u32, title: &'static str, http: u16, details: &'static str) -> Code {
    Code { code, title, http, details }
}

/// Sorted by code, for the binary search in [`lookup`].
const TABLE: &[Code] = &[
    row(0, "AuthException", 401, "We were unable to authenticate the app user."),
    row(1, "API Unknown", 400, "Invalid request or possible server error."),
    row(2, "API Service", 503, "Temporary due to downtime or due to being overloaded."),
    row(3, "API Method", 500, "Capability or permissions issue."),
    row(4, "API Too Many Calls", 400, "The app has reached its API call rate limit."),
    row(10, "Permission Denied", 403, "Permission is either not granted or has been removed."),
    row(33, "Parameter value is not valid", 400, "The business phone number has been deleted."),
    row(100, "Invalid parameter", 400, "The request included one or more unsupported or misspelled parameters."),
    row(190, "Access token has expired", 401, "Your access token has expired."),
    row(200, "API Permission", 403, "Permission is either not granted or has been removed."),
    row(368, "Temporarily blocked for policies violations", 403, "The WhatsApp Business Account is restricted."),
    row(80007, "Rate limit issues", 400, "The WhatsApp Business Account has reached its rate limit."),
    row(
        130429,
        "Rate limit hit",
        400,
        "Message failed to send because there were too many messages sent from this phone number in a short period of time",
    ),
    row(
        130472,
        "User's number is part of an experiment",
        400,
        "Failed to send message because this user's phone number is part of an experiment",
    ),
    row(
        130497,
        "Business account is restricted from messaging users in this country",
        403,
        "The business account is restricted from messaging users in this country.",
    ),
    row(131000, "Something went wrong", 500, "Message failed to send due to an unknown error."),
    row(131005, "Access denied", 403, "Permission is either not granted or has been removed."),
    row(131008, "Required parameter is missing", 400, "The request is missing a required parameter."),
    row(131009, "Parameter value is not valid", 400, "One or more parameter values are invalid."),
    row(131016, "Service unavailable", 500, "A service is temporarily unavailable."),
    row(131021, "Recipient cannot be sender", 400, "Sender and recipient phone number is the same."),
    row(
        131026,
        "Message Undeliverable",
        400,
        "Message failed to send because the recipient is not a WhatsApp user or cannot receive messages.",
    ),
    row(
        131030,
        "Recipient phone number not in allowed list",
        400,
        "Recipient phone number not in allowed list: add it to the test number's recipient list.",
    ),
    row(131031, "Account has been locked", 403, "The business account was restricted or disabled."),
    row(131037, "Display name approval needed", 400, "The number needs an approved display name."),
    row(131042, "Business eligibility payment issue", 400, "There was an error related to your payment method."),
    row(131045, "Incorrect certificate", 500, "Message failed to send due to a phone number registration error."),
    row(
        131047,
        "Re-engagement message",
        400,
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    row(
        131048,
        "Spam rate limit hit",
        400,
        "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
    ),
    row(
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        400,
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    row(131050, "Unable to deliver the message", 400, "The user has stopped marketing messages from this business."),
    row(131051, "Message type unknown", 400, "Message type is currently not supported."),
    row(131052, "Media download error", 400, "Unable to download the media sent by the user."),
    row(131053, "Media upload error", 400, "Unable to upload the media used in the message."),
    row(
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        400,
        "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
    ),
    row(131057, "Account in maintenance mode", 500, "Business Account is in maintenance mode."),
    row(
        131062,
        "Business-scoped User ID (BSUID) recipients are not supported for this message.",
        400,
        "This message cannot be sent to a business-scoped user ID: send it to the user's phone number with to.",
    ),
    row(
        132000,
        "Number of parameters does not match the expected number of params",
        400,
        "Template parameter count mismatch.",
    ),
    row(
        132001,
        "Template name does not exist in the translation",
        404,
        "The template does not exist in this language.",
    ),
    row(132005, "Translated text too long", 400, "Translated text is too long."),
    row(132007, "Format character policy violated", 400, "Template content violates a WhatsApp policy."),
    row(132008, "Template parameter value invalid", 400, "A template parameter value is invalid."),
    row(
        132012,
        "Parameter format does not match format in the created template",
        400,
        "Template parameter format mismatch.",
    ),
    row(
        132015,
        "Template is Paused",
        400,
        "Template is paused due to low quality so it cannot be sent in a template message.",
    ),
    row(
        132016,
        "Template is Disabled",
        400,
        "Template has been paused too many times due to low quality and is now permanently disabled.",
    ),
    row(132018, "Template parameter issue", 400, "There was an issue with the parameters in your template."),
    row(133000, "Incomplete Deregistration", 500, "A previous deregistration attempt failed."),
    row(133004, "Server Temporarily Unavailable", 503, "Server is temporarily unavailable."),
    row(133005, "Two step verification PIN Mismatch", 400, "Two-step verification PIN incorrect."),
    row(133006, "Phone number re-verification needed", 400, "Phone number needs to be verified before registering."),
    row(
        133008,
        "Too Many two step verification PIN Guesses",
        400,
        "Too many incorrect two-step verification PIN guesses for this phone number.",
    ),
    row(
        133009,
        "Two step verification PIN Guessed Too Fast",
        400,
        "Two-step verification PIN was entered too quickly.",
    ),
    row(133010, "Phone number Not Registered", 400, "Phone number not registered on the Whatsapp Business Platform."),
    row(
        133015,
        "Please wait a few minutes before attempting to register this phone number",
        400,
        "The phone number was recently deleted.",
    ),
    row(
        133016,
        "Account register deregister rate limit exceeded",
        400,
        "Registration or Deregistration failed because there were too many attempts for this phone number in a short period of time.",
    ),
    row(
        135000,
        "Generic user error",
        400,
        "Message failed to send because of an unknown error with your request parameters.",
    ),
    row(136024, "Request code error", 400, "The verification code could not be requested."),
    row(136025, "Verify code error", 400, "The verification code could not be verified."),
    row(137000, "Identity key mismatch", 400, "The recipient's identity key hash does not match."),
];

/// The row for `code`, if Meta documents it.
pub fn lookup(code: u32) -> Option<&'static Code> {
    TABLE.binary_search_by_key(&code, |row| row.code).ok().map(|at| &TABLE[at])
}

/// Whether a code is one of the throttling codes whose HTTP status Meta's
/// tables disagree on (400 now, 429 in older pages; `docs/cloud-api.md` §6.3).
pub fn is_throttling(code: u32) -> bool {
    matches!(code, 4 | 80007 | 130429 | 131048 | 131056)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|pair| pair[0].code < pair[1].code));
    }

    #[test]
    fn lookups() {
        assert_eq!(lookup(130429).unwrap().title, "Rate limit hit");
        assert_eq!(lookup(132001).unwrap().http, 404);
        assert_eq!(lookup(190).unwrap().http, 401);
        assert!(lookup(424242).is_none());
        assert!(is_throttling(131056) && !is_throttling(131047));
    }
}
