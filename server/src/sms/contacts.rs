//! `PUT/GET /contacts`, `GET /contacts/tags`, `GET/DELETE /contacts/{id}`: JSON or CSV, all or
//! nothing, every bad row by path (a CSV row's message names its line).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engage_engine::schedule::{format_instant, parse_timezone};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

use super::{json_value, phone, problems, site_facts, Fields};
use crate::error::{ApiError, Body, Detail};
use crate::ids;
use crate::publish::run_blocking;
use crate::store::sms::ContactRow;
use crate::AppState;

pub const MAX_ROWS: usize = 100_000;
const MAX_TAGS: usize = 50;
const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;
const CONTACT_FIELDS: [&str; 7] = [
    "id",
    "phone",
    "name",
    "tags",
    "attributes",
    "timezone",
    "consent",
];

/// A contact id: 1 to 128 printable characters without spaces.
pub fn is_contact_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '?' && c != '#')
}

fn is_tag(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 64 && !s.chars().any(|c| c.is_control())
}

pub fn contact_json(c: &ContactRow) -> Value {
    json!({
        "id": c.id, "phone": c.phone, "name": c.name, "tags": c.tags,
        "attributes": c.attributes, "timezone": c.timezone, "consent": c.consent,
        "created_at": format_instant(c.created_at), "updated_at": format_instant(c.updated_at),
    })
}

/// Reads one contact object; problems at `prefix.field`, with `line` in each message for CSV.
fn read_contact(
    v: &Value,
    prefix: &str,
    line: Option<usize>,
    default_country: Option<&str>,
    problems: &mut Vec<Detail>,
) -> Option<ContactRow> {
    let start = problems.len();
    let mut f = Fields::new(v, prefix, problems)?;
    f.only(&CONTACT_FIELDS);
    let id = f.string("id", true, 128);
    if let Some(id) = &id {
        if !is_contact_id(id) {
            f.error(
                "id",
                format!("\"{id}\" is not a contact id: 1 to 128 printable characters, no spaces or / ? #"),
            );
        }
    }
    let phone = match f.get("phone") {
        Some(Value::String(p)) => match phone::parse(p, default_country) {
            Ok(e164) => Some(e164),
            Err(m) => {
                f.error("phone", m);
                None
            }
        },
        Some(Value::Number(n)) => match phone::parse(&n.to_string(), default_country) {
            Ok(e164) => Some(e164),
            Err(m) => {
                f.error("phone", m);
                None
            }
        },
        Some(_) => {
            f.error("phone", "must be a string");
            None
        }
        None => {
            f.error("phone", "is required");
            None
        }
    };
    let name = f.string("name", false, 200);
    let mut tags = Vec::new();
    match f.get("tags") {
        None => {}
        Some(Value::Array(list)) => {
            if list.len() > MAX_TAGS {
                f.error("tags", format!("at most {MAX_TAGS} tags"));
            }
            for (i, t) in list.iter().enumerate() {
                match t.as_str() {
                    Some(s) if is_tag(s.trim()) => {
                        let s = s.trim().to_owned();
                        if !tags.contains(&s) {
                            tags.push(s);
                        }
                    }
                    _ => f.error(
                        &format!("tags[{i}]"),
                        "a tag is a string of 1 to 64 characters",
                    ),
                }
            }
        }
        Some(_) => f.error("tags", "must be an array of strings"),
    }
    let attributes = match f.get("attributes") {
        None => Value::Object(Map::new()),
        Some(Value::Object(m)) => {
            let size = serde_json::to_string(m).map(|s| s.len()).unwrap_or(0);
            if size > MAX_ATTRIBUTES_BYTES {
                f.error(
                    "attributes",
                    format!("at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"),
                );
            }
            Value::Object(m.clone())
        }
        Some(_) => {
            f.error("attributes", "must be an object");
            Value::Null
        }
    };
    let timezone = f.string("timezone", false, 64);
    if let Some(tz) = &timezone {
        if let Err(m) = parse_timezone(tz) {
            f.error("timezone", m);
        }
    }
    let consent = match f.get("consent") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            f.error("consent", "must be true or false");
            true
        }
    };
    if let Some(line) = line {
        for d in &mut problems[start..] {
            d.message = format!("line {line}: {}", d.message);
        }
    }
    if problems.len() > start {
        return None;
    }
    Some(ContactRow {
        id: id?,
        phone: phone?,
        name,
        tags,
        attributes,
        timezone,
        consent,
        created_at: 0,
        updated_at: 0,
    })
}

/// A CSV value as JSON: `consent` a boolean, `tags` split on `;`, `|` or `,`, the rest strings
/// (numbers in `attributes.x` columns become numbers, so conditions can compare them).
fn csv_record(
    headers: &[String],
    record: &csv::StringRecord,
    line: usize,
    prefix: &str,
    problems: &mut Vec<Detail>,
) -> Value {
    let mut obj = Map::new();
    let mut attributes = Map::new();
    for (h, cell) in headers.iter().zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        if let Some(key) = h.strip_prefix("attributes.") {
            let v = cell
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| cell.parse::<f64>().map(Value::from))
                .unwrap_or_else(|_| Value::from(cell));
            attributes.insert(key.to_owned(), v);
            continue;
        }
        let v = match h.as_str() {
            "tags" => Value::from(
                cell.split([';', '|', ','])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(Value::from)
                    .collect::<Vec<_>>(),
            ),
            "consent" => match cell.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "y" => Value::Bool(true),
                "false" | "no" | "0" | "n" => Value::Bool(false),
                _ => {
                    problems.push(Detail::new(
                        format!("{prefix}.consent"),
                        format!("line {line}: \"{cell}\" is not true/false (or yes/no, 1/0)"),
                    ));
                    continue;
                }
            },
            _ => Value::from(cell),
        };
        obj.insert(h.clone(), v);
    }
    if !attributes.is_empty() {
        obj.insert("attributes".into(), Value::Object(attributes));
    }
    Value::Object(obj)
}

/// Parses a CSV upload into contacts (header row first).
fn read_csv(body: &[u8], default_country: Option<&str>) -> Result<Vec<ContactRow>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid_csv", "the CSV is not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_csv",
                format!("the CSV header row cannot be read: {e}"),
            )
        })?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // Count first (cheap): an upload over the limit is refused before any number is parsed.
    let records = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .count();
    if records > MAX_ROWS {
        return Err(too_many());
    }
    let mut problems = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if !CONTACT_FIELDS.contains(&h.as_str()) && !h.starts_with("attributes.")
            || h == "attributes"
        {
            problems.push(Detail::new(
                format!("header[{i}]"),
                format!("line 1: unknown column \"{h}\": use id, phone, name, tags, timezone, consent or attributes.<key>"),
            ));
        }
    }
    for required in ["id", "phone"] {
        if !headers.iter().any(|h| h == required) {
            problems.push(Detail::new(
                "header",
                format!("line 1: the \"{required}\" column is required"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(super::problems(problems).unwrap_err());
    }
    let mut rows = Vec::new();
    for (i, record) in rdr.records().enumerate() {
        let prefix = format!("contacts[{i}]");
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(i + 2);
                problems.push(Detail::new(prefix, format!("line {line}: {e}")));
                continue;
            }
        };
        let line = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(i + 2);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push(Detail::new(
                prefix,
                format!(
                    "line {line}: {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        if rows.len() + problems.len() > MAX_ROWS {
            return Err(too_many());
        }
        let v = csv_record(&headers, &record, line, &prefix, &mut problems);
        if let Some(c) = read_contact(&v, &prefix, Some(line), default_country, &mut problems) {
            rows.push((i, Some(line), c));
        }
    }
    dedupe(rows, &mut problems).and_then(|rows| super::problems(problems).map(|()| rows))
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_contacts",
        format!("at most {MAX_ROWS} contacts a request: split the file"),
    )
}

/// The same id twice in one upload is an error at the second.
fn dedupe(
    rows: Vec<(usize, Option<usize>, ContactRow)>,
    problems: &mut Vec<Detail>,
) -> Result<Vec<ContactRow>, ApiError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, line, c) in rows {
        if !seen.insert(c.id.clone()) {
            let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
            problems.push(Detail::new(
                format!("contacts[{i}].id"),
                format!("{at}\"{}\" appears twice in this upload", c.id),
            ));
            continue;
        }
        out.push(c);
    }
    Ok(out)
}

/// Reads the contacts of a JSON array one element at a time, so a 100,000-row upload never
/// holds the whole array as JSON values (peak memory: the body and the rows).
struct JsonRows<'c> {
    country: Option<&'c str>,
    rows: Vec<(usize, Option<usize>, ContactRow)>,
    problems: Vec<Detail>,
    count: usize,
}

impl<'de> serde::de::Visitor<'de> for &mut JsonRows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of contacts")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            let i = self.count;
            self.count += 1;
            if self.count > MAX_ROWS {
                continue;
            }
            let prefix = format!("contacts[{i}]");
            if let Some(c) = read_contact(&item, &prefix, None, self.country, &mut self.problems) {
                self.rows.push((i, None, c));
            }
        }
        Ok(())
    }
}

fn read_json(body: &[u8], default_country: Option<&str>) -> Result<Vec<ContactRow>, ApiError> {
    let trimmed = body.trim_ascii_start();
    let mut reader = JsonRows {
        country: default_country,
        rows: Vec::new(),
        problems: Vec::new(),
        count: 0,
    };
    if trimmed.starts_with(b"[") {
        use serde::Deserializer as _;
        // Count first (cheap): an upload over the limit is refused before any number is parsed.
        if let Ok(all) = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body) {
            if all.len() > MAX_ROWS {
                return Err(too_many());
            }
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        de.deserialize_seq(&mut reader)
            .and_then(|()| de.end())
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_json",
                    format!("the request body is not valid JSON: {e}"),
                )
            })?;
    } else {
        // `{"contacts": [...]}`, the other accepted shape.
        let v = json_value(body)?;
        let Some(list) = v.get("contacts").and_then(Value::as_array) else {
            return Err(ApiError::unprocessable(
                "validation_failed",
                "the body must be a JSON array of contacts",
                vec![Detail::new("contacts", "must be an array")],
            ));
        };
        if list.len() > MAX_ROWS {
            return Err(too_many());
        }
        use serde::de::Visitor as _;
        let seq =
            serde::de::value::SeqDeserializer::<_, serde_json::Error>::new(list.iter().cloned());
        (&mut reader)
            .visit_seq(seq)
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    }
    if reader.count > MAX_ROWS {
        return Err(too_many());
    }
    let mut problems = reader.problems;
    let rows = dedupe(reader.rows, &mut problems)?;
    problems_or(rows, problems)
}

fn problems_or<T>(v: T, p: Vec<Detail>) -> Result<T, ApiError> {
    problems(p).map(|()| v)
}

/// `PUT /admin/v1/sites/{site}/contacts`: JSON `[...]` or `text/csv`, all or nothing.
#[utoipa::path(put, path = "/admin/v1/sites/{site}/contacts", tag = "sms", params(crate::openapi::params::SitePath),
    request_body(content((crate::openapi::schemas::ContactsUpload = "application/json"), (String = "text/csv")),
        description = "JSON, or CSV with a header row (`phone,name,tags,...`). Upserts by id or phone."),
    responses((status = 200, description = "Stored.", body = crate::openapi::schemas::ContactsStored)))]
pub async fn put_contacts(
    State(st): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    let country = site_facts(&st, &site).default_country;
    let is_csv = ctype.starts_with("text/csv") || ctype.starts_with("application/csv");
    if !is_csv && !ctype.starts_with("application/json") && !ctype.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("contacts are application/json or text/csv, not {ctype}"),
        ));
    }
    let now = st.now();
    let store = st.store.clone();
    let site2 = site.clone();
    let (created, updated, total) = run_blocking(move || {
        let rows = if is_csv {
            read_csv(&body, country.as_deref())?
        } else {
            read_json(&body, country.as_deref())?
        };
        let total = rows.len();
        let (c, u) = store.upsert_contacts(&site2, &rows, now)?;
        Ok((c, u, total))
    })
    .await?;
    st.sms.contacts_changed(&site);
    Ok(Json(
        json!({"created": created, "updated": updated, "contacts": total}),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only contacts with this tag.
    tag: Option<String>,
    /// Name or phone contains this.
    q: Option<String>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
    /// At most this many (1–1000; 100 by default).
    limit: Option<usize>,
}

/// `GET /contacts?tag=&q=&cursor=&limit=`: a page ordered by id.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/contacts", tag = "sms", params(crate::openapi::params::SitePath, ListQuery),
    responses((status = 200, description = "A page of contacts ordered by id.", body = crate::openapi::schemas::ContactPage)))]
pub async fn list_contacts(
    State(st): State<AppState>,
    Path(site): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let bounded = |s: Option<String>, what: &str| -> Result<Option<String>, ApiError> {
        match s.filter(|s| !s.is_empty()) {
            Some(s) if s.len() > 200 => Err(ApiError::bad_request(
                "invalid_query",
                format!("{what} is longer than 200 characters"),
            )),
            other => Ok(other),
        }
    };
    let (tag, text, cursor) = (
        bounded(q.tag, "tag")?,
        bounded(q.q, "q")?,
        bounded(q.cursor, "cursor")?,
    );
    let store = st.store.clone();
    let mut rows = run_blocking(move || {
        Ok(store.list_contacts(
            &site,
            tag.as_deref(),
            text.as_deref(),
            cursor.as_deref(),
            limit + 1,
        )?)
    })
    .await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|c| c.id.clone())
    } else {
        None
    };
    Ok(Json(json!({
        "contacts": rows.iter().map(contact_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /contacts/tags`: every tag with its number of contacts.
#[utoipa::path(get, path = "/admin/v1/sites/{site}/contacts/tags", tag = "sms", params(crate::openapi::params::SitePath),
    responses((status = 200, description = "Every tag with its number of contacts.", body = crate::openapi::schemas::Tags)))]
pub async fn tags(
    State(st): State<AppState>,
    Path(site): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ids::check("site", &site)?;
    let store = st.store.clone();
    let tags = run_blocking(move || Ok(store.contact_tags(&site)?)).await?;
    Ok(Json(json!({
        "tags": tags.into_iter().map(|(t, n)| json!({"tag": t, "contacts": n})).collect::<Vec<_>>()
    })))
}

fn contact_path(site: &str, id: &str) -> Result<(), ApiError> {
    ids::check("site", site)?;
    if !is_contact_id(id) {
        return Err(ApiError::bad_request("invalid_id", "not a contact id"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/admin/v1/sites/{site}/contacts/{contact}", tag = "sms", params(crate::openapi::params::ContactPath),
    responses((status = 200, description = "The contact.", body = crate::openapi::schemas::Contact)))]
pub async fn get_contact(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    contact_path(&site, &id)?;
    let store = st.store.clone();
    let id2 = id.clone();
    let row = run_blocking(move || Ok(store.contact(&site, &id2)?)).await?;
    row.map(|c| Json(contact_json(&c)))
        .ok_or_else(|| ApiError::not_found(format!("no contact \"{id}\"")))
}

/// `DELETE /contacts/{id}`: erases the contact; its messages keep only a hash of the number.
#[utoipa::path(delete, path = "/admin/v1/sites/{site}/contacts/{contact}", tag = "sms", params(crate::openapi::params::ContactPath),
    responses((status = 204, description = "Deleted.")))]
pub async fn delete_contact(
    State(st): State<AppState>,
    Path((site, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    contact_path(&site, &id)?;
    let store = st.store.clone();
    let now = st.now();
    let (id2, site2) = (id.clone(), site.clone());
    let found =
        run_blocking(move || Ok(store.erase_contact(&site2, &id2, &phone::hashed, now)?)).await?;
    st.sms.contacts_changed(&site);
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no contact \"{id}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_by_line() {
        let csv = "id,phone,name,tags,consent,attributes.city\n\
                   c-1,07400 123456,Ana,vip;newsletter,yes,Leeds\n\
                   c-2,12,Bo,,no,York\n\
                   c-3,+44 7400 123457,\"Cy, Jr\",vip,maybe,\n";
        let e = read_csv(csv.as_bytes(), Some("GB")).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let paths: Vec<_> = e.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["contacts[1].phone", "contacts[2].consent"], "{e}");
        assert!(e.details[0].message.starts_with("line 3: "), "{e}");
        assert!(e.details[1].message.starts_with("line 4: "), "{e}");
        let ok = "id,phone,name,tags,attributes.visits\nc-1,07400 123456,Ana,vip|new,3\n";
        let rows = read_csv(ok.as_bytes(), Some("GB")).unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].phone, "+447400123456");
        assert_eq!(rows[0].tags, ["vip", "new"]);
        assert_eq!(rows[0].attributes["visits"], 3);
        assert!(read_csv(b"id,mobile\nx,1\n", None).is_err());
    }

    #[test]
    fn json_rows_every_problem() {
        let body = br#"[{"id": "c-1", "phone": "+447400123456", "tags": ["vip"]},
                        {"id": "c 2", "phone": "nope", "colour": "red"},
                        {"id": "c-1", "phone": "+447400123457"}]"#;
        let e = read_json(body, None).unwrap_err();
        let paths: Vec<_> = e.details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "contacts[1].colour",
                "contacts[1].id",
                "contacts[1].phone",
                "contacts[2].id"
            ],
            "{e}"
        );
        assert_eq!(
            read_json(b"{", None).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
