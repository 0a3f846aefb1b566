//! JSON as cJSON's formatted printer lays it out, which Mosquitto 2.1's HTTP API answers in:
//! one TAB of indentation per level, a TAB after each `:`, array elements separated by `, `
//! on the line of their brackets, no trailing newline.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// `value` in cJSON's formatted layout.
///
/// # Errors
/// When `value`'s `Serialize` fails (it does not for the API's plain structs).
pub(crate) fn to_cjson<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, CJson::default());
    value.serialize(&mut serializer)?;
    Ok(out)
}

/// The formatter: the nesting depth (objects and arrays both count, as in cJSON) and, per open
/// object, whether it has a member yet.
#[derive(Default)]
struct CJson {
    depth: usize,
    objects: Vec<bool>,
}

fn tabs<W: ?Sized + io::Write>(writer: &mut W, count: usize) -> io::Result<()> {
    for _ in 0..count {
        writer.write_all(b"\t")?;
    }
    Ok(())
}

impl Formatter for CJson {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.objects.push(false);
        writer.write_all(b"{\n")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        if self.objects.pop().unwrap_or(false) {
            writer.write_all(b"\n")?;
        }
        tabs(writer, self.depth)?;
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(has_members) = self.objects.last_mut() {
            *has_members = true;
        }
        if !first {
            writer.write_all(b",\n")?;
        }
        tabs(writer, self.depth)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b":\t")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Listener {
        port: u16,
        protocol: &'static str,
        tls: bool,
    }

    #[derive(Serialize)]
    struct Listeners {
        listeners: Vec<Listener>,
        empty: Vec<u8>,
    }

    #[test]
    fn the_layout_is_cjsons() {
        let value = Listeners {
            listeners: vec![
                Listener { port: 1883, protocol: "mqtt", tls: false },
                Listener { port: 9883, protocol: "httpapi", tls: true },
            ],
            empty: Vec::new(),
        };
        let text = String::from_utf8(to_cjson(&value).unwrap()).unwrap();
        assert_eq!(
            text,
            "{\n\t\"listeners\":\t[{\n\t\t\t\"port\":\t1883,\n\t\t\t\"protocol\":\t\"mqtt\",\n\t\t\t\
             \"tls\":\tfalse\n\t\t}, {\n\t\t\t\"port\":\t9883,\n\t\t\t\"protocol\":\t\"httpapi\",\
             \n\t\t\t\"tls\":\ttrue\n\t\t}],\n\t\"empty\":\t[]\n}"
        );
    }

    #[test]
    fn an_empty_object_is_two_lines() {
        let empty: std::collections::BTreeMap<String, u8> = std::collections::BTreeMap::new();
        assert_eq!(to_cjson(&empty).unwrap(), b"{\n}");
    }
}
