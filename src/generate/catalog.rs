//! The sticker catalog: every (subject, scene) pair is a search term with a few stickers
//! whose captions describe it.

use serde_json::json;

const SUBJECTS: [&str; 10] = [
    "cat", "dog", "panda", "unicorn", "pizza", "coffee", "heart", "rocket", "ghost", "dinosaur",
];
const SCENES: [&str; 10] = [
    "in a park",
    "says hello",
    "happy birthday",
    "good morning",
    "crying",
    "dancing",
    "sleeping",
    "love you",
    "thank you",
    "on fire",
];
const STYLES: [&str; 3] = ["cute cartoon", "pixel art", "hand drawn"];

#[derive(Debug, Clone)]
pub struct Sticker {
    pub id: String,
    pub subject: usize,
    pub scene: usize,
    pub caption: String,
}

impl Sticker {
    pub fn to_json(&self) -> Vec<u8> {
        let tags = [SUBJECTS[self.subject], SCENES[self.scene]];
        serde_json::to_vec(&json!({"sticker_id": self.id, "caption": self.caption, "tags": tags}))
            .expect("serializes")
    }
}

pub struct Catalog {
    stickers: Vec<Sticker>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

impl Catalog {
    pub fn new() -> Self {
        let mut stickers = Vec::new();
        for (subject, subject_name) in SUBJECTS.iter().enumerate() {
            for (scene, scene_name) in SCENES.iter().enumerate() {
                for style in STYLES {
                    stickers.push(Sticker {
                        id: format!("st_{:06}", stickers.len() + 1),
                        subject,
                        scene,
                        caption: format!("{style} {subject_name} {scene_name}"),
                    });
                }
            }
        }
        Self { stickers }
    }

    pub fn stickers(&self) -> &[Sticker] {
        &self.stickers
    }

    /// The search terms, most popular first.
    pub fn terms(&self) -> Vec<(usize, usize, String)> {
        let mut terms = Vec::new();
        for scene in 0..SCENES.len() {
            for subject in 0..SUBJECTS.len() {
                // Interleave so that popular terms cover many subjects.
                let (subject, scene) = ((subject + scene) % SUBJECTS.len(), scene);
                terms.push((
                    subject,
                    scene,
                    format!("{} {}", SUBJECTS[subject], SCENES[scene]),
                ));
            }
        }
        terms
    }

    /// Stickers drawn for (subject, scene), then the same subject, then the rest.
    pub fn ranked_for(&self, subject: usize, scene: usize) -> Vec<&Sticker> {
        let mut ranked: Vec<&Sticker> = self.stickers.iter().collect();
        ranked.sort_by_key(|s| (s.subject != subject, s.scene != scene, s.id.clone()));
        ranked
    }
}
