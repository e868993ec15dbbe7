//! The DNS wire format (RFC 1035), as far as a cluster DNS server needs it: read one
//! question, answer it with A records, an empty answer or NXDOMAIN.

use std::net::Ipv4Addr;

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Class IN.
const CLASS_IN: u16 = 1;
/// Header flag: this is a response.
const FLAG_RESPONSE: u16 = 0x8000;
/// Header flag: recursion desired (copied from the query).
const FLAG_RECURSION_DESIRED: u16 = 0x0100;
/// Header flag: recursion available.
const FLAG_RECURSION_AVAILABLE: u16 = 0x0080;
/// Response code: the query could not be parsed.
const RCODE_FORMAT_ERROR: u16 = 1;
/// Response code: the name does not exist.
const RCODE_NAME_ERROR: u16 = 3;
/// TTL of answers, in seconds; Kubernetes' CoreDNS uses 5 for cluster names.
const ANSWER_TTL: u32 = 5;

/// The question of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Query id.
    pub id: u16,
    /// Flags of the query.
    pub flags: u16,
    /// Queried name, lower case, without the trailing dot.
    pub name: String,
    /// Record type.
    pub record_type: u16,
    /// The question section as received, echoed in the answer.
    raw_question: Vec<u8>,
}

/// How to answer a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The name exists; these are its A records (empty for other record types).
    Addresses(Vec<Ipv4Addr>),
    /// The name does not exist.
    NameError,
}

/// A query that could not be read, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed DNS query: {0}")]
pub struct MalformedQuery(&'static str);

/// Parses a query with exactly one question.
pub fn parse_query(message: &[u8]) -> Result<Question, MalformedQuery> {
    if message.len() < 12 {
        return Err(MalformedQuery("shorter than the header"));
    }
    let id = u16::from_be_bytes([message[0], message[1]]);
    let flags = u16::from_be_bytes([message[2], message[3]]);
    if flags & FLAG_RESPONSE != 0 {
        return Err(MalformedQuery("not a query"));
    }
    let questions = u16::from_be_bytes([message[4], message[5]]);
    if questions != 1 {
        return Err(MalformedQuery("expected exactly one question"));
    }
    let mut position = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(
            *message
                .get(position)
                .ok_or(MalformedQuery("truncated name"))?,
        );
        position += 1;
        if length == 0 {
            break;
        }
        if length > 63 {
            return Err(MalformedQuery("compressed or oversized label in question"));
        }
        let label = message
            .get(position..position + length)
            .ok_or(MalformedQuery("truncated label"))?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        position += length;
    }
    let fixed = message
        .get(position..position + 4)
        .ok_or(MalformedQuery("truncated question"))?;
    let record_type = u16::from_be_bytes([fixed[0], fixed[1]]);
    position += 4;
    Ok(Question {
        id,
        flags,
        name: labels.join("."),
        record_type,
        raw_question: message[12..position].to_vec(),
    })
}

/// Encodes the response to `question`.
pub fn encode_response(question: &Question, answer: &Answer) -> Vec<u8> {
    let (code, addresses): (u16, &[Ipv4Addr]) = match answer {
        Answer::Addresses(addresses) if question.record_type == TYPE_A => (0, addresses),
        Answer::Addresses(_) => (0, &[]),
        Answer::NameError => (RCODE_NAME_ERROR, &[]),
    };
    let flags =
        FLAG_RESPONSE | (question.flags & FLAG_RECURSION_DESIRED) | FLAG_RECURSION_AVAILABLE | code;
    let mut response = Vec::with_capacity(12 + question.raw_question.len() + 16 * addresses.len());
    response.extend_from_slice(&question.id.to_be_bytes());
    response.extend_from_slice(&flags.to_be_bytes());
    response.extend_from_slice(&1u16.to_be_bytes());
    response.extend_from_slice(&(addresses.len() as u16).to_be_bytes());
    response.extend_from_slice(&0u16.to_be_bytes());
    response.extend_from_slice(&0u16.to_be_bytes());
    response.extend_from_slice(&question.raw_question);
    for address in addresses {
        // A pointer to the name in the question, at offset 12.
        response.extend_from_slice(&0xc00cu16.to_be_bytes());
        response.extend_from_slice(&TYPE_A.to_be_bytes());
        response.extend_from_slice(&CLASS_IN.to_be_bytes());
        response.extend_from_slice(&ANSWER_TTL.to_be_bytes());
        response.extend_from_slice(&4u16.to_be_bytes());
        response.extend_from_slice(&address.octets());
    }
    response
}

/// Encodes a format error response for a query that could not be parsed, reusing its id.
pub fn encode_format_error(message: &[u8]) -> Vec<u8> {
    let id = message.get(..2).map_or([0, 0], |id| [id[0], id[1]]);
    let flags = FLAG_RESPONSE | FLAG_RECURSION_AVAILABLE | RCODE_FORMAT_ERROR;
    let mut response = id.to_vec();
    response.extend_from_slice(&flags.to_be_bytes());
    response.extend_from_slice(&[0; 8]);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, record_type: u16) -> Vec<u8> {
        let mut message = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            message.push(label.len() as u8);
            message.extend_from_slice(label.as_bytes());
        }
        message.push(0);
        message.extend_from_slice(&record_type.to_be_bytes());
        message.extend_from_slice(&CLASS_IN.to_be_bytes());
        message
    }

    #[test]
    fn parses_question_name_and_type() {
        let question = parse_query(&query("Productpage.Bookinfo", TYPE_A)).unwrap();
        assert_eq!(question.id, 0x1234);
        assert_eq!(question.name, "productpage.bookinfo");
        assert_eq!(question.record_type, TYPE_A);
    }

    #[test]
    fn a_record_carries_address() {
        let question = parse_query(&query("web", TYPE_A)).unwrap();
        let response = encode_response(
            &question,
            &Answer::Addresses(vec![Ipv4Addr::new(127, 9, 64, 1)]),
        );
        assert_eq!(&response[..2], &[0x12, 0x34]);
        assert_eq!(
            u16::from_be_bytes([response[2], response[3]]) & 0x000f,
            0,
            "NOERROR"
        );
        assert_eq!(
            u16::from_be_bytes([response[6], response[7]]),
            1,
            "one answer"
        );
        assert_eq!(&response[response.len() - 4..], &[127, 9, 64, 1]);
    }

    #[test]
    fn aaaa_empty_and_unknown_nxdomain() {
        let aaaa = parse_query(&query("web", 28)).unwrap();
        let response = encode_response(&aaaa, &Answer::Addresses(vec![Ipv4Addr::LOCALHOST]));
        assert_eq!(u16::from_be_bytes([response[6], response[7]]), 0);
        let missing = parse_query(&query("nosuch", TYPE_A)).unwrap();
        let response = encode_response(&missing, &Answer::NameError);
        assert_eq!(
            u16::from_be_bytes([response[2], response[3]]) & 0x000f,
            RCODE_NAME_ERROR
        );
    }

    #[test]
    fn rejects_malformed_queries() {
        assert!(parse_query(&[0; 5]).is_err());
        let mut truncated = query("web", TYPE_A);
        truncated.truncate(15);
        assert!(parse_query(&truncated).is_err());
    }
}
