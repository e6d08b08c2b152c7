//! CLIP's byte-level BPE tokenizer, read from a Hugging Face model directory's `vocab.json` and
//! `merges.txt`. Text is cleaned as CLIP does without ftfy (whitespace collapsed, lower case),
//! split with CLIP's pattern, mapped byte by byte to printable symbols, merged pair by pair in
//! rank order (the last symbol of a word carries `</w>`), and wrapped in the start and end tokens.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;

pub const START: &str = "<|startoftext|>";
pub const END: &str = "<|endoftext|>";
const PATTERN: &str = r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// GPT-2's reversible byte to printable-character table, as CLIP uses it.
fn byte_symbols() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 256u32;
    for b in 0..256u32 {
        table[b as usize] = if printable(b) {
            char::from_u32(b).expect("latin-1 code point")
        } else {
            let c = char::from_u32(next).expect("code point below 512");
            next += 1;
            c
        };
    }
    table
}

#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    bytes: [char; 256],
    split: regex::Regex,
    pub start: u32,
    pub end: u32,
}

impl ClipTokenizer {
    /// Reads `vocab.json` and `merges.txt` from a model directory.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let vp = dir.join("vocab.json");
        let mp = dir.join("merges.txt");
        let vocab = std::fs::read_to_string(&vp)
            .with_context(|| format!("cannot read {}", vp.display()))?;
        let merges = std::fs::read_to_string(&mp)
            .with_context(|| format!("cannot read {}", mp.display()))?;
        Self::from_strings(&vocab, &merges).with_context(|| {
            format!(
                "{}: not a CLIP tokenizer (vocab.json + merges.txt)",
                dir.display()
            )
        })
    }

    pub fn from_strings(vocab_json: &str, merges_txt: &str) -> Result<Self> {
        let vocab: HashMap<String, u32> =
            serde_json::from_str(vocab_json).context("vocab.json is not a token -> id map")?;
        let mut ranks = HashMap::new();
        for (n, line) in merges_txt
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .enumerate()
        {
            let mut it = line.split(' ');
            match (it.next(), it.next(), it.next()) {
                (Some(a), Some(b), None) => {
                    ranks.insert((a.to_string(), b.to_string()), n);
                }
                _ => bail!("merges.txt line {}: expected two symbols", n + 1),
            }
        }
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| anyhow!("vocab.json lacks the special token {t}"))
        };
        let (start, end) = (id(START)?, id(END)?);
        let bytes = byte_symbols();
        for b in bytes {
            if !vocab.contains_key(&b.to_string()) {
                bail!("vocab.json lacks the byte symbol {b:?}");
            }
        }
        Ok(Self {
            start,
            end,
            vocab,
            ranks,
            bytes,
            split: regex::Regex::new(PATTERN).expect("valid pattern"),
        })
    }

    /// BPE of one pre-token (already mapped to byte symbols).
    fn bpe(&self, token: &str) -> Vec<String> {
        let chars: Vec<char> = token.chars().collect();
        let mut word: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        loop {
            let best = word
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.ranks
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|r| (*r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let (a, b) = (word[i].clone(), word[i + 1].clone());
            // Merge every occurrence of the pair, left to right.
            let mut merged = Vec::with_capacity(word.len());
            let mut j = 0;
            while j < word.len() {
                if j + 1 < word.len() && word[j] == a && word[j + 1] == b {
                    merged.push(format!("{a}{b}"));
                    j += 2;
                } else {
                    merged.push(word[j].clone());
                    j += 1;
                }
            }
            word = merged;
            if word.len() == 1 {
                break;
            }
        }
        word
    }

    /// Token ids of `text` between the start and end tokens, truncated to `max_len` (the end
    /// token kept last).
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let clean = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let clean = clean.to_lowercase();
        let mut ids = vec![self.start];
        for m in self.split.find_iter(&clean) {
            let t = m.as_str();
            if t == START || t == END {
                ids.push(self.vocab[t]);
                continue;
            }
            let mapped: String = t.bytes().map(|b| self.bytes[b as usize]).collect();
            for piece in self.bpe(&mapped) {
                let id = self
                    .vocab
                    .get(&piece)
                    .ok_or_else(|| anyhow!("the vocabulary has no entry for '{piece}'"))?;
                ids.push(*id);
            }
        }
        if max_len < 2 {
            bail!("a context of {max_len} tokens cannot hold the start and end tokens");
        }
        ids.truncate(max_len - 1);
        ids.push(self.end);
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_onto_printable_symbols() {
        let t = byte_symbols();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], '\u{120}'); // 'Ġ', as in GPT-2
        assert!(t.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }
}
