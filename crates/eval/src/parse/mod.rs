//! Unit-aware answer parsing: numbers (digits, words, fractions, ranges), length units and
//! their combinations, L x W x H triples, coordinates, yes/no polarity and object mentions.
//!
//! Everything works on a token list of the lower-cased text ([`tokenize`]); no regex, no
//! allocation per character. Lengths come back in metres with the MSMU scorer's factors
//! (1 in = 0.0254 m, 1 ft = 0.3048 m, 1 cm = 0.01 m).
//!
//! The parts: [`tokenize`] makes the token list; `numbers` reads one number (digits, words,
//! fractions); `units` reads one length unit; [`quantities`] groups numbers with their units;
//! [`coordinates`] finds image points; [`polarity`] and [`is_refusal`] read yes/no answers;
//! [`object_phrases`], [`label_words`] and [`mention`] find objects; [`names_label`] matches
//! an object-name answer against a reference label as a whole (synonyms, plurals); [`relation_words`] and
//! [`opposite`] compare relation words.

mod coordinates;
mod labels;
mod numbers;
mod objects;
mod quantities;
mod relations;
mod tokens;
mod units;
mod yes_no;

pub use coordinates::coordinates;
pub use labels::{is_locative, names_label, singular_label};
pub use objects::{content_words, is_attribute, label_words, mention, object_phrases};
pub use quantities::{quantities, Quantity};
pub use relations::{opposite, relation_words, OPPOSITES};
pub use tokens::{tokenize, Tok};
pub use units::Unit;
pub use yes_no::{is_refusal, polarity};
