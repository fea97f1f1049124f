//! Text side of a training row: the Vicuna v1 conversation template, tokenisation with a
//! `tokenizer.json` (Hugging Face `tokenizers`), the image placeholder expanded to one token
//! per image feature, and labels that keep the loss on assistant turns only. Also trains the
//! byte-level BPE tokenizer of `--preset tiny` on the shards' text.

use std::path::Path;

use anyhow::{anyhow, Context};
use msmu_data::qa::Turn;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// Label value the loss ignores (PyTorch `ignore_index`).
pub const IGNORE: i64 = -100;

/// Vicuna v1 system prompt (LLaVA `conv_vicuna_v1`).
pub const SYSTEM: &str = "A chat between a curious user and an artificial intelligence assistant. \
The assistant gives helpful, detailed, and polite answers to the user's questions.";

/// Special tokens of the tiny tokenizer, in id order.
pub const TINY_SPECIALS: [&str; 5] = ["<unk>", "<s>", "</s>", "<pad>", "<image>"];

/// `Turn::from` of the user's turns (every other turn is the assistant's), as
/// [`msmu_data::qa::conversation`] writes them.
pub const HUMAN: &str = "human";

/// Token ids and loss labels of one row (same length).
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    pub input_ids: Vec<i64>,
    pub labels: Vec<i64>,
}

pub struct TextTokenizer {
    pub tokenizer: Tokenizer,
    pub bos_id: Option<i64>,
    pub eos_id: i64,
    pub pad_id: i64,
}

impl TextTokenizer {
    pub fn new(tokenizer: Tokenizer) -> anyhow::Result<Self> {
        let id = |t: &str| tokenizer.token_to_id(t).map(i64::from);
        let eos_id = id("</s>").context("tokenizer has no </s> token")?;
        let pad_id = id("<pad>").or_else(|| id("<unk>")).unwrap_or(eos_id);
        Ok(Self {
            bos_id: id("<s>"),
            eos_id,
            pad_id,
            tokenizer,
        })
    }

    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&path).map_err(|e| anyhow!("reading {}: {e}", path.display()))?;
        Self::new(tokenizer)
    }

    /// Writes `DIR/tokenizer.json` (atomically, see [`msmu_data::dataset::atomic`]).
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("tokenizer.json");
        msmu_data::dataset::atomic::write_atomic_with(&path, |tmp| {
            self.tokenizer
                .save(tmp, false)
                .map_err(|e| anyhow!("writing {}: {e}", path.display()))
        })
    }

    /// Token ids of plain text (no special tokens added).
    pub fn ids(&self, text: &str) -> anyhow::Result<Vec<i64>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    pub fn decode(&self, ids: &[i64]) -> anyhow::Result<String> {
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        self.tokenizer
            .decode(&ids, true)
            .map_err(|e| anyhow!("decoding: {e}"))
    }

    /// Text with `<image>` placeholders replaced by `n_image` image tokens each.
    fn ids_with_image(
        &self,
        text: &str,
        n_image: usize,
        image_token_id: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let mut out = Vec::new();
        for (k, part) in text.split("<image>").enumerate() {
            if k > 0 {
                out.extend(std::iter::repeat_n(image_token_id, n_image));
            }
            out.extend(self.ids(part)?);
        }
        Ok(out)
    }

    /// Vicuna v1: `SYSTEM USER: <q1> ASSISTANT: <a1></s>USER: <q2> ASSISTANT: <a2></s>...`;
    /// labels are the answer tokens and their `</s>`, everything else is [`IGNORE`]. Rows
    /// longer than `max_len` are cut (the image tokens must survive the cut).
    pub fn encode_conversation(
        &self,
        turns: &[Turn],
        n_image: usize,
        image_token_id: i64,
        max_len: usize,
    ) -> anyhow::Result<Encoded> {
        let mut input_ids: Vec<i64> = self.bos_id.into_iter().collect();
        let mut labels = vec![IGNORE; input_ids.len()];
        let mut first = true;
        for turn in turns {
            if turn.from == HUMAN {
                let text = if first {
                    format!("{SYSTEM} USER: {} ASSISTANT:", turn.value)
                } else {
                    format!("USER: {} ASSISTANT:", turn.value)
                };
                first = false;
                let ids = self.ids_with_image(&text, n_image, image_token_id)?;
                labels.extend(std::iter::repeat_n(IGNORE, ids.len()));
                input_ids.extend(ids);
            } else {
                let mut ids = self.ids(&format!(" {}", turn.value))?;
                ids.push(self.eos_id);
                labels.extend(&ids);
                input_ids.extend(ids);
            }
        }
        input_ids.truncate(max_len);
        labels.truncate(max_len);
        Ok(Encoded { input_ids, labels })
    }

    /// The prompt for one question, ending with `ASSISTANT:` (generation continues it).
    pub fn encode_prompt(
        &self,
        question: &str,
        n_image: usize,
        image_token_id: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let question = with_image_placeholder(question);
        let mut ids: Vec<i64> = self.bos_id.into_iter().collect();
        ids.extend(self.ids_with_image(
            &format!("{SYSTEM} USER: {question} ASSISTANT:"),
            n_image,
            image_token_id,
        )?);
        Ok(ids)
    }

    /// The official inference prompt: the raw question (`<image>\n` prepended when it has no
    /// image placeholder) tokenised WITHOUT the chat template, after BOS.
    pub fn encode_raw_prompt(
        &self,
        question: &str,
        n_image: usize,
        image_token_id: i64,
    ) -> anyhow::Result<Vec<i64>> {
        let question = with_image_placeholder(question);
        let mut ids: Vec<i64> = self.bos_id.into_iter().collect();
        ids.extend(self.ids_with_image(&question, n_image, image_token_id)?);
        Ok(ids)
    }
}

/// The question with `<image>\n` in front unless it already has the placeholder.
fn with_image_placeholder(question: &str) -> String {
    if question.contains("<image>") {
        question.to_string()
    } else {
        format!("<image>\n{question}")
    }
}

/// Trains a byte-level BPE tokenizer (`--preset tiny`) with [`TINY_SPECIALS`] as ids 0..5.
pub fn train_tiny_tokenizer(texts: &[String], vocab_size: usize) -> anyhow::Result<TextTokenizer> {
    let specials: Vec<AddedToken> = TINY_SPECIALS
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    let mut corpus: Vec<String> = texts.to_vec();
    corpus.push(SYSTEM.to_string());
    tokenizer
        .train(&mut trainer, corpus.iter())
        .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| anyhow!("adding special tokens: {e}"))?;
    TextTokenizer::new(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_only_on_answers() {
        let texts = vec!["How tall is the chair? It is 0.8 meters tall.".to_string(); 20];
        let tk = train_tiny_tokenizer(&texts, 300).unwrap();
        assert_eq!(tk.tokenizer.token_to_id("<image>"), Some(4));
        let turns = vec![
            Turn {
                from: HUMAN.into(),
                value: "<image>\nHow tall is the chair?".into(),
            },
            Turn {
                from: "gpt".into(),
                value: "It is 0.8 meters tall.".into(),
            },
        ];
        let enc = tk.encode_conversation(&turns, 3, 4, 10_000).unwrap();
        assert_eq!(enc.input_ids.len(), enc.labels.len());
        assert_eq!(enc.input_ids.iter().filter(|&&i| i == 4).count(), 3);
        let target: Vec<i64> = enc
            .labels
            .iter()
            .copied()
            .filter(|&l| l != IGNORE)
            .collect();
        assert_eq!(*target.last().unwrap(), tk.eos_id);
        assert_eq!(tk.decode(&target).unwrap().trim(), "It is 0.8 meters tall.");
        // The prompt is the labelled row's prefix.
        let prompt = tk.encode_prompt("How tall is the chair?", 3, 4).unwrap();
        assert_eq!(&enc.input_ids[..prompt.len()], &prompt[..]);
    }
}
