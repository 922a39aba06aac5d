//! Reading a request's form parameters the way Twilio reads them, for every operation: only a
//! form body carries parameters, the first value of a repeated name wins (all of them for a
//! list parameter), unknown names are ignored, booleans are `true`/`false` in any case; and
//! Twilio's 400 bodies for a missing or invalid parameter.

use crate::twilio::types::ErrorBody;

/// Twilio reads parameters only from a form body: a JSON body reads as no parameters at all,
/// so a client that sends JSON gets "Missing required parameter", as it would from Twilio.
pub fn form_pairs(content_type: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let is_form = content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if !is_form {
        return Vec::new();
    }
    form_urlencoded::parse(body).into_owned().collect()
}

/// The form parameters of one request, read the way Twilio reads them: the first value wins
/// if a name is repeated (except for list parameters), unknown names are ignored.
pub struct Form<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Form<'a> {
    pub fn new(pairs: &'a [(String, String)]) -> Self {
        Self { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`AutoCreation.WebhookFilters`), in order.
    pub fn all(&self, name: &str) -> Vec<&'a str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A SID with `prefix`, checked against the spec's pattern.
    pub fn sid(&self, name: &str, prefix: &str) -> Result<Option<String>, ErrorBody> {
        self.get(name)
            .map(|v| {
                is_sid(v, prefix)
                    .then(|| v.to_string())
                    .ok_or_else(|| invalid(name, &format!("{v:?} is not a valid {prefix} SID")))
            })
            .transpose()
    }

    /// One of the spec's enum values, spelt exactly.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ErrorBody> {
        self.get(name)
            .map(|v| {
                allowed
                    .contains(&v)
                    .then(|| v.to_string())
                    .ok_or_else(|| invalid(name, &format!("must be one of {}", allowed.join(", "))))
            })
            .transpose()
    }

    /// One of the spec's enum values in any case, answered as the spec spells it.
    pub fn one_of_any_case(
        &self,
        name: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, ErrorBody> {
        self.get(name)
            .map(|v| {
                allowed
                    .iter()
                    .find(|a| a.eq_ignore_ascii_case(v))
                    .copied()
                    .ok_or_else(|| invalid(name, &format!("must be one of {}", allowed.join(", "))))
            })
            .transpose()
    }

    /// `true` or `false` in any case (`True`, `TRUE`): Twilio reads booleans without regard to
    /// case, and some helper libraries send them capitalised.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ErrorBody> {
        self.get(name).map(|v| parse_flag(name, v)).transpose()
    }

    pub fn number(&self, name: &str) -> Result<Option<i64>, ErrorBody> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| invalid(name, "must be an integer")))
            .transpose()
    }
}

/// `true`/`false` in any case; anything else is refused, naming the parameter.
pub fn parse_flag(name: &str, value: &str) -> Result<bool, ErrorBody> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid(name, "must be true or false"))
    }
}

/// The form parameters of a request, by its `Content-Type` (see [`form_pairs`]).
pub fn request_form(headers: &http::HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    form_pairs(content_type, body)
}

/// `^{prefix}[0-9a-fA-F]{32}$`, the pattern of every SID in the spec.
pub fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The spec's `format: uri`: a scheme and a host, e.g. `https://example.com/hook`.
pub fn is_absolute_uri(value: &str) -> bool {
    value
        .parse::<http::Uri>()
        .is_ok_and(|uri| uri.scheme().is_some() && uri.host().is_some_and(|h| !h.is_empty()))
}

pub fn missing(name: &str) -> ErrorBody {
    ErrorBody::new(
        20001,
        format!("Missing required parameter {name} in the post body"),
        400,
    )
}

pub fn invalid(name: &str, why: &str) -> ErrorBody {
    ErrorBody::new(20001, format!("Invalid parameter {name}: {why}"), 400)
}

/// `(name, value)` pairs as a decoded form body holds them, for the parameter readers' tests.
#[cfg(test)]
pub fn test_pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::test_pairs as pairs;
    use super::*;

    #[test]
    fn booleans_are_read_without_regard_to_case() {
        for (value, expected) in [
            ("True", true),
            ("TRUE", true),
            ("tRuE", true),
            ("False", false),
        ] {
            let given = pairs(&[("Enabled", value)]);
            assert_eq!(
                Form::new(&given).flag("Enabled").unwrap(),
                Some(expected),
                "{value}"
            );
        }
        for bad in ["truee", " true", "1", "yes", ""] {
            let error = parse_flag("Enabled", bad).unwrap_err();
            assert_eq!(error.code, Some(20001), "{bad:?}");
        }
    }

    #[test]
    fn repeated_parameters_are_all_kept_for_lists() {
        let given = pairs(&[("F", "a"), ("G", "x"), ("F", "b")]);
        let form = Form::new(&given);
        assert_eq!(form.all("F"), ["a", "b"]);
        assert_eq!(form.get("F"), Some("a"));
        assert!(form.all("H").is_empty());
        let kinds = ["chat", "sms"];
        assert_eq!(
            form.one_of_any_case("G", &kinds).unwrap_err().code,
            Some(20001)
        );
        let upper = pairs(&[("Type", "CHAT")]);
        assert_eq!(
            Form::new(&upper).one_of_any_case("Type", &kinds).unwrap(),
            Some("chat")
        );
    }

    #[test]
    fn only_a_form_body_carries_parameters() {
        let body = b"FriendlyName=a+b&ChannelType=web";
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        assert_eq!(
            form_pairs(form, body),
            pairs(&[("FriendlyName", "a b"), ("ChannelType", "web")])
        );
        assert!(form_pairs(Some("application/json"), body).is_empty());
        assert!(form_pairs(None, body).is_empty());
    }
}
