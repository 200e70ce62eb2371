//! Turns a profile update into HTTP requests: the URL, the percent-encoded parameters, and the
//! split into several requests when one would pass Target's size limit.

use super::{ProfileUpdate, RowProblem, VisitorId};
use crate::config::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// Target takes at most 8 KB in a GET; this bounds the whole URL, scheme and host included.
pub const GET_LIMIT_BYTES: usize = 8 * 1024;
/// Target takes at most 60 KB in a POST; this bounds the form body.
pub const POST_LIMIT_BYTES: usize = 60 * 1024;

/// Every byte but RFC 3986's unreserved characters is encoded, so no character in a name or value
/// (`&`, `=`, `+`, `#`, `%`, space, anything non-ASCII) can add, end or change a parameter.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where and how updates are sent, and where profiles are looked up.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `https://{client}.tt.omtrdc.net/m2/{client}/profile/update`, or the stand-in's equivalent.
    pub update_url: String,
    pub method: Method,
    /// `https://{client}.tt.omtrdc.net/rest/v1/profiles`, the profile fetch API.
    profiles_url: String,
    /// `?client={client}`, which every fetch carries.
    client_query: String,
}

impl Endpoint {
    pub fn new(base: &Url, client_code: &str, method: Method) -> Endpoint {
        let base = base.as_str().trim_end_matches('/');
        let client = utf8_percent_encode(client_code, COMPONENT);
        Endpoint {
            update_url: format!("{base}/m2/{client}/profile/update"),
            method,
            profiles_url: format!("{base}/rest/v1/profiles"),
            client_query: format!("client={client}"),
        }
    }

    /// The profile fetch request for `visitor`: `GET …/rest/v1/profiles/{tntId}?client=…` or
    /// `GET …/rest/v1/profiles/thirdPartyId/{id}?client=…`. It counts nothing against the quota.
    pub fn profile_check(&self, visitor: &VisitorId) -> PreparedRequest {
        let (kind, id) = match visitor {
            VisitorId::TntId(id) => ("", id.as_str()),
            VisitorId::ThirdParty(id) => ("thirdPartyId/", id.as_str()),
        };
        PreparedRequest {
            method: Method::Get,
            url: format!(
                "{}/{kind}{}?{}",
                self.profiles_url,
                utf8_percent_encode(id, COMPONENT),
                self.client_query
            ),
            body: None,
        }
    }
}

/// One HTTP request, fully built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedRequest {
    pub method: Method,
    pub url: String,
    /// The form body, for POST.
    pub body: Option<String>,
}

/// Builds the requests for `update`: one when it fits, else several, each within the method's
/// limit and each naming the visitor.
pub fn prepare(
    endpoint: &Endpoint,
    update: &ProfileUpdate,
) -> Result<Vec<PreparedRequest>, RowProblem> {
    let (id_name, id_value) = update.visitor.param();
    let id_param = format!("{id_name}={}", utf8_percent_encode(id_value, COMPONENT));
    // Room for the parameters, after what every request of this update carries anyway.
    let (fixed, limit) = match endpoint.method {
        Method::Get => (
            endpoint.update_url.len() + 1 + id_param.len(),
            GET_LIMIT_BYTES,
        ),
        Method::Post => (id_param.len(), POST_LIMIT_BYTES),
    };
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    for (name, value) in &update.attributes {
        let param = format!(
            "&profile.{}={}",
            utf8_percent_encode(name, COMPONENT),
            utf8_percent_encode(value, COMPONENT)
        );
        if fixed + param.len() > limit {
            return Err(RowProblem::new(
                format!("attribute {name}"),
                format!("does not fit in one request of {limit} bytes even alone"),
            ));
        }
        if fixed + current.len() + param.len() > limit {
            chunks.push(std::mem::take(&mut current));
        }
        current.push_str(&param);
    }
    chunks.push(current);
    Ok(chunks
        .into_iter()
        .map(|params| {
            let query = format!("{id_param}{params}");
            match endpoint.method {
                Method::Get => PreparedRequest {
                    method: Method::Get,
                    url: format!("{}?{query}", endpoint.update_url),
                    body: None,
                },
                Method::Post => PreparedRequest {
                    method: Method::Post,
                    url: endpoint.update_url.clone(),
                    body: Some(query),
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn endpoint(method: Method) -> Endpoint {
        let base = Url::parse("https://acme.tt.omtrdc.net").map_err(|e| e.to_string());
        let Ok(base) = base else {
            panic!("bad test URL")
        };
        Endpoint::new(&base, "acme", method)
    }

    fn update(attributes: Vec<(String, String)>) -> ProfileUpdate {
        ProfileUpdate {
            visitor: VisitorId::TntId("1368007744041-575948.01_00".into()),
            attributes,
        }
    }

    #[test]
    fn a_small_update_is_one_get_with_prefixed_encoded_parameters() {
        let requests = prepare(
            &endpoint(Method::Get),
            &update(vec![("a b".into(), "x&y=z+#%é😀".into())]),
        );
        assert_eq!(
            requests,
            Ok(vec![PreparedRequest {
                method: Method::Get,
                url: "https://acme.tt.omtrdc.net/m2/acme/profile/update?\
                      mboxPC=1368007744041-575948.01_00&profile.a%20b=x%26y%3Dz%2B%23%25%C3%A9%F0%9F%98%80"
                    .into(),
                body: None,
            }])
        );
    }

    #[test]
    fn post_puts_the_parameters_in_the_body() {
        let requests = prepare(
            &endpoint(Method::Post),
            &update(vec![("tier".into(), "gold".into())]),
        );
        let Ok(requests) = requests else {
            panic!("{requests:?}")
        };
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].url,
            "https://acme.tt.omtrdc.net/m2/acme/profile/update"
        );
        assert_eq!(
            requests[0].body.as_deref(),
            Some("mboxPC=1368007744041-575948.01_00&profile.tier=gold")
        );
    }

    #[test]
    fn an_update_past_8_kilobytes_is_split_and_every_part_names_the_visitor() {
        let attributes: Vec<_> = (0..60)
            .map(|i| (format!("attr{i:02}"), "€".repeat(200)))
            .collect();
        let requests = prepare(&endpoint(Method::Get), &update(attributes.clone()));
        let Ok(requests) = requests else {
            panic!("{requests:?}")
        };
        assert!(requests.len() > 1, "{} request(s)", requests.len());
        let mut seen = Vec::new();
        for request in &requests {
            assert!(
                request.url.len() <= GET_LIMIT_BYTES,
                "{} bytes",
                request.url.len()
            );
            assert!(request.url.contains("?mboxPC=1368007744041-575948.01_00&"));
            let query = request
                .url
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or_default();
            for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                if let Some(name) = name.strip_prefix("profile.") {
                    seen.push((name.to_owned(), value.into_owned()));
                }
            }
        }
        assert_eq!(seen, attributes);
    }

    proptest! {
        #[test]
        fn any_json_number_reaches_the_query_string_as_written(
            number in r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,6})?",
            method in prop_oneof![Just(Method::Get), Just(Method::Post)],
        ) {
            let attributes = format!(r#"{{"n": {number}, "s": "{number}"}}"#);
            let update = ProfileUpdate::from_row(Some("1-1.01_00"), None, &attributes);
            prop_assert!(update.is_ok(), "{:?}", update);
            let requests = update.map(|u| prepare(&endpoint(method), &u));
            let Ok(Ok(requests)) = requests else {
                return Err(TestCaseError::fail(format!("{requests:?}")));
            };
            prop_assert_eq!(requests.len(), 1);
            let query = match method {
                Method::Get => requests[0].url.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default(),
                Method::Post => requests[0].body.clone().unwrap_or_default(),
            };
            let params: Vec<(String, String)> =
                url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            prop_assert_eq!(
                params,
                vec![
                    ("mboxPC".to_owned(), "1-1.01_00".to_owned()),
                    ("profile.n".to_owned(), number.clone()),
                    ("profile.s".to_owned(), number),
                ]
            );
        }

        #[test]
        fn any_values_round_trip_exactly_within_the_limit(
            values in proptest::collection::vec(any::<String>(), 1..40),
        ) {
            let attributes: Vec<(String, String)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("n{i:02}&={v}").chars().take(128).collect(), v.chars().take(256).collect()))
                .collect();
            let mut attributes = attributes;
            attributes.sort();
            attributes.dedup_by(|a, b| a.0 == b.0);
            let requests = prepare(&endpoint(Method::Get), &update(attributes.clone()));
            prop_assert!(requests.is_ok());
            let mut seen = Vec::new();
            for request in requests.unwrap_or_default() {
                prop_assert!(request.url.len() <= GET_LIMIT_BYTES);
                let query = request.url.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
                let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                prop_assert_eq!(&params[0].0, "mboxPC");
                seen.extend(params.into_iter().skip(1).map(|(n, v)| (n.trim_start_matches("profile.").to_owned(), v)));
            }
            prop_assert_eq!(seen, attributes);
        }
    }
}
