//! Media providers on the wire: `wire::providers::Provider` to
//! [`core::MediaProvider`](crate::core::MediaProvider) and back. Reading
//! one back parses its host patterns; the coreapp then checks the rest
//! (`Provider::check`) before storing it.

use wire::ApiError;
use wire::providers::{Provider, ProviderAuth};

use crate::core as p;
use crate::core::media_provider::Auth;

pub fn to_proto(provider: &Provider) -> p::MediaProvider {
    let auth = match &provider.auth {
        ProviderAuth::Basic { username, password } => {
            Auth::Basic(p::BasicAuth { username: username.clone(), password: password.clone() })
        }
        ProviderAuth::Bearer(token) => Auth::Bearer(token.clone()),
    };
    p::MediaProvider {
        name: provider.name.clone(),
        auth: Some(auth),
        hosts: provider.hosts.iter().map(ToString::to_string).collect(),
    }
}

/// 1009 for a provider without credentials or with a host pattern that
/// does not parse.
pub fn from_proto(provider: p::MediaProvider) -> Result<Provider, ApiError> {
    let auth = match provider.auth {
        Some(Auth::Basic(basic)) => ProviderAuth::Basic { username: basic.username, password: basic.password },
        Some(Auth::Bearer(token)) => ProviderAuth::Bearer(token),
        None => return Err(ApiError::missing("config")),
    };
    let hosts = provider
        .hosts
        .iter()
        .map(|h| h.parse().map_err(|e| ApiError::invalid(format!("Parameter 'hosts': {e}"))))
        .collect::<Result<_, _>>()?;
    Ok(Provider { name: provider.name, auth, hosts })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wire::ErrorCode;

    use super::*;

    #[test]
    fn round_trips() {
        for body in [
            json!([{"name": "corp", "type": "www", "config": {"basic": {"username": "u", "password": "p"}},
                    "hosts": ["files.example.com", "*.cdn.example.com", "10.1.2.3:8443"]}]),
            json!([{"name": "cdn", "type": "www", "config": {"bearer": "tok"}}]),
        ] {
            let provider = wire::providers::parse(&body).unwrap();
            assert_eq!(from_proto(to_proto(&provider)).unwrap(), provider);
            let masked = provider.masked();
            assert_eq!(from_proto(to_proto(&masked)).unwrap().to_onprem_masked(), provider.to_onprem_masked());
        }
    }

    #[test]
    fn what_cannot_be_read_is_refused() {
        let no_auth = p::MediaProvider { name: "x".into(), ..Default::default() };
        assert_eq!(from_proto(no_auth).unwrap_err().code, ErrorCode::ParameterMissing);
        let bad_host =
            p::MediaProvider { name: "x".into(), auth: Some(Auth::Bearer("t".into())), hosts: vec!["a b".into()] };
        assert_eq!(from_proto(bad_host).unwrap_err().code, ErrorCode::ParameterInvalid);
        // Read but not valid: the coreapp's check refuses it.
        let empty_token = p::MediaProvider { name: "x".into(), auth: Some(Auth::Bearer(String::new())), hosts: vec![] };
        assert!(from_proto(empty_token).unwrap().check().is_err());
    }
}
