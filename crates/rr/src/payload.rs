//! The request's payload: `-m` as given, `-n` empty, `-f` a whole file, `-s` all of stdin,
//! with the error lines Mosquitto 2.1's mosquitto_rr prints (2.0.11 sent an empty payload
//! for `-f` and `-s`).

use std::io::Read;

use bytes::Bytes;
use culex_client::args::lossy;
use culex_compat::strerror;

use crate::args::Source;

/// Loads the payload of `source`.
///
/// # Errors
/// The lines for stderr when the file or stdin cannot be read.
pub(crate) fn load(source: &Source) -> Result<Bytes, String> {
    match source {
        Source::Message(bytes) => Ok(Bytes::from(bytes.clone())),
        Source::Null => Ok(Bytes::new()),
        Source::File(path) => std::fs::read(path).map(Bytes::from).map_err(|err| {
            let shown = lossy(path);
            format!(
                "Error: Unable to read file \"{shown}\": {}.\nError loading input file \"{shown}\".\n",
                strerror(&err)
            )
        }),
        Source::Stdin => {
            // As mosquitto_pub -s: nothing to read is an error too.
            let mut content = Vec::new();
            let read = std::io::stdin().lock().read_to_end(&mut content);
            if read.is_err() || content.is_empty() {
                return Err("Error: Zero length input.\nError loading input from stdin.\n".to_owned());
            }
            Ok(Bytes::from(content))
        }
    }
}
