//! Printing a template as JSON or YAML.

use std::io::Write;

use serde_json::Value;

/// How a template is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Pretty JSON.
    #[default]
    Json,
    /// YAML in long form (`Fn::Sub:`, no short `!Sub` tags).
    Yaml,
}

/// A template could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer failed (a closed pipe, a full disk).
    #[error("failed to write the template")]
    Io(#[from] std::io::Error),
    /// The template could not be serialized as YAML.
    #[error("failed to serialize the template as YAML")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// Writes `template` in `format`, keys in the order the template was built, ending
/// with a newline.
pub fn write(template: &Value, format: Format, out: &mut impl Write) -> Result<(), WriteError> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, template).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Format::Yaml => out.write_all(serde_yaml_ng::to_string(template)?.as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(format: Format) -> String {
        let template = serde_json::json!({ "b": 1, "a": { "Fn::Sub": "x ${Y}\nz" }, "on": "yes" });
        let mut out = Vec::new();
        write(&template, format, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_keeps_the_build_order() {
        let json = written(Format::Json);
        assert!(json.find("\"b\"") < json.find("\"a\""), "{json}");
        assert!(json.ends_with("}\n"));
    }

    #[test]
    fn yaml_round_trips_to_the_same_value() {
        let yaml = written(Format::Yaml);
        let back: Value = serde_yaml_ng::from_str(&yaml).expect("parses");
        assert_eq!(
            back,
            serde_json::json!({ "b": 1, "a": { "Fn::Sub": "x ${Y}\nz" }, "on": "yes" })
        );
        assert!(yaml.find("b:") < yaml.find("a:"), "{yaml}");
    }

    #[test]
    fn a_failing_writer_is_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for format in [Format::Json, Format::Yaml] {
            assert!(matches!(
                write(&Value::Null, format, &mut Closed),
                Err(WriteError::Io(_))
            ));
        }
    }
}
