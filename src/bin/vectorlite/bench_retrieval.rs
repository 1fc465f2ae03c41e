//! `vectorlite bench --retrieval`: vector, keyword and hybrid search on a generated agent
//! memory (notes about people, orders, errors, trips, tastes) with two kinds of questions:
//! exact-token ones (an order number, an error code) and paraphrases (the same fact in other
//! words, naming the person). Reports recall@5 per mode and kind, then keyword-search speed,
//! keyword-index memory and the cost of rebuilding the index on load at 100k short texts.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vectorlite::{
    Collection, CollectionConfig, EmbeddingFunction, Fusion, HybridOptions, IndexType, LoadOptions,
    NewRecord, SaveOptions, SearchOptions, SimilarityMetric,
};

const NAMES: &[&str] = &[
    "Ann", "Bob", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
    "Marco", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Ximena",
    "Yusuf", "Zoe", "Aiko", "Bruno", "Chloe", "Diego",
];
const CITIES: &[&str] = &[
    "Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Denver", "Krakow", "Hanoi", "Tunis", "Perth", "Quito",
    "Riga",
];
const DRINKS: &[&str] =
    &["green tea", "black coffee", "hot chocolate", "sparkling water", "orange juice", "chai"];
const FOODS: &[&str] = &["peanuts", "shellfish", "gluten", "dairy", "eggs", "sesame"];
const PRODUCTS: &[&str] = &["laptop", "headphones", "standing desk", "monitor", "keyboard", "camera"];
const DAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// One note and the question that should find it.
struct Item {
    note: String,
    question: String,
    exact: bool,
}

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// Facts stated one way and asked about in other words (little lexical overlap), so that only
/// meaning connects question and note.
const PARAPHRASES: &[(&str, &str)] = &[
    (
        "The staging database password is rotated every ninety days.",
        "How often do we change the credentials for the test DB?",
    ),
    ("Priya's daughter starts kindergarten in September.", "When does Priya's kid begin school?"),
    (
        "The office coffee machine is broken; use the kettle on floor three.",
        "Where can I make a hot drink while the espresso maker is out of order?",
    ),
    ("Marco prefers aisle seats because of his long legs.", "Where should Marco sit on planes?"),
    ("Deployments are frozen from December 20 until January 3.", "Can we ship releases over the holidays?"),
    ("Elena is vegan and avoids honey as well.", "What diet does Elena follow?"),
    (
        "The quarterly board meeting moved to the Zurich office.",
        "Which city hosts the next directors' gathering?",
    ),
    (
        "Jonas wants weekly summaries instead of daily emails.",
        "How frequently does Jonas like status reports?",
    ),
    (
        "Our cloud bill doubled after the video feature launched.",
        "Why did hosting costs rise so much recently?",
    ),
    (
        "Hiro's cat is called Miso and needs pills twice a day.",
        "What medication schedule does Hiro's pet have?",
    ),
    (
        "The API rate limit for free accounts is sixty requests per minute.",
        "How many calls can a non-paying user make each minute?",
    ),
    (
        "Grace is learning Portuguese before moving to Brazil.",
        "Which language is Grace studying for her relocation?",
    ),
    (
        "Backups run nightly at 2am and are kept for thirty days.",
        "How long do we retain the nightly snapshots?",
    ),
    ("Omar has a peanut allergy that requires an epinephrine pen.", "Which nut must Omar never eat?"),
    (
        "The support team answers tickets within four business hours.",
        "What is the response time promise for customer help requests?",
    ),
    (
        "Lena's birthday dinner is booked at the Italian place on Friday.",
        "Where are we celebrating Lena turning a year older?",
    ),
    (
        "The mobile app crashes on Android 9 when the camera opens.",
        "Which phone OS version has the photo crash?",
    ),
    ("Sven drives an electric van and charges it at the depot.", "What kind of vehicle does Sven use?"),
    (
        "Invoices must be approved by finance before the 25th.",
        "What is the deadline for getting bills signed off by accounting?",
    ),
    (
        "Tara is allergic to cats, so meetings at her place are pet-free.",
        "Why can't I bring my kitten to Tara's house?",
    ),
    (
        "The Wi-Fi password for guests is printed on the fridge.",
        "Where do visitors find the wireless network key?",
    ),
    (
        "Dmitri's team uses Rust for the storage engine.",
        "Which programming language powers the database layer Dmitri's group builds?",
    ),
    (
        "Quarterly taxes are paid through the accountant, Mrs. Okafor.",
        "Who handles our estimated tax payments?",
    ),
    ("Farid runs a half marathon every spring.", "What long-distance race does Farid do each year?"),
    (
        "The printer on floor two only works with the blue cable.",
        "How do I get the second-storey copier to print?",
    ),
    (
        "Rosa's flight lands at 6:40 in the evening on Sunday.",
        "What time does Rosa arrive at the airport this weekend?",
    ),
    (
        "We switched payment providers to cut card fees by a third.",
        "Why did we move to a different billing processor?",
    ),
    ("Ines keeps her spare house key with the neighbour at number 12.", "Who has a copy of Ines's door key?"),
    (
        "The design review happens every other Thursday afternoon.",
        "How often do we critique mockups, and when?",
    ),
    (
        "Kemal prefers phone calls to chat messages for urgent issues.",
        "How should I reach Kemal about something critical?",
    ),
];

/// `n` notes: the paraphrased facts, then generated order and error notes, each with a unique
/// code that its exact-token question names.
fn generate(n: usize, seed: u64) -> Vec<Item> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut items: Vec<Item> = PARAPHRASES
        .iter()
        .take(n)
        .map(|(note, question)| Item { note: (*note).into(), question: (*question).into(), exact: false })
        .collect();
    for i in items.len()..n {
        let name = pick(&mut rng, NAMES);
        let (city, day) = (pick(&mut rng, CITIES), pick(&mut rng, DAYS));
        items.push(match i % 4 {
            0 => Item {
                note: format!("Order ORD-{} for {name} was shipped to {city} on {day}.", 100_000 + i),
                question: format!("status of ORD-{}", 100_000 + i),
                exact: true,
            },
            1 => Item {
                note: format!(
                    "{name} hit error ERR-{} while paying for the {}.",
                    10_000 + i,
                    pick(&mut rng, PRODUCTS)
                ),
                question: format!("what went wrong with ERR-{}", 10_000 + i),
                exact: true,
            },
            2 => Item {
                note: format!("{name} likes to drink {} first thing in the morning.", pick(&mut rng, DRINKS)),
                question: String::new(),
                exact: false,
            },
            _ => Item {
                note: format!(
                    "{name} is allergic to {} and has a flight to {city} on {day}.",
                    pick(&mut rng, FOODS)
                ),
                question: String::new(),
                exact: false,
            },
        });
    }
    items
}

/// Runs the quality rows with `model` on `n` notes, then the 100k keyword rows in `tmp`.
pub fn run(model: Arc<dyn EmbeddingFunction>, n: usize, tmp: &Path) -> Result<()> {
    let items = generate(n, 7);
    let dim = model.dimension()?;
    let c = Collection::new("memory", CollectionConfig::new(dim).with_index(IndexType::Flat))?;
    c.set_embedder(Some(Arc::clone(&model)));
    let started = Instant::now();
    c.add_texts(items.iter().map(|it| (it.note.clone(), None)).collect())?;
    eprintln!("embedded and added {n} notes in {:.1} s", started.elapsed().as_secs_f64());
    // Questions: every exact one, and as many paraphrases, spread over the set.
    let exact: Vec<usize> = (0..n).filter(|&i| items[i].exact).step_by(7).take(PARAPHRASES.len()).collect();
    let para: Vec<usize> = (0..n).filter(|&i| !items[i].exact && !items[i].question.is_empty()).collect();
    let asked: Vec<usize> = exact.iter().chain(&para).copied().collect();
    let texts: Vec<&str> = asked.iter().map(|&i| items[i].question.as_str()).collect();
    let vectors = c.embed_queries(&texts)?;
    let options = SearchOptions::new(5);
    println!(
        "{n} generated notes, {} exact-token and {} paraphrase questions; recall@5:\n",
        exact.len(),
        para.len()
    );
    println!("| mode | exact-token | paraphrase | mixed |");
    println!("|---|---:|---:|---:|");
    let window =
        |k: usize| HybridOptions { vector_k: Some(k), keyword_k: Some(k), ..HybridOptions::default() };
    let weighted =
        HybridOptions { fusion: Fusion::Weighted { vector_weight: 0.5 }, ..HybridOptions::default() };
    let modes: [(&str, Option<HybridOptions>); 6] = [
        ("vector", None),
        ("keyword", None),
        ("hybrid (default: RRF k=60, 10 candidates a side)", Some(HybridOptions::default())),
        ("hybrid, RRF k=60, 5 candidates a side", Some(window(5))),
        ("hybrid, RRF k=60, 50 candidates a side", Some(window(50))),
        ("hybrid, weighted 0.5", Some(weighted)),
    ];
    for (mode, hybrid) in modes {
        let mut found = [0usize; 2];
        for (q, &target) in asked.iter().enumerate() {
            let hits = match (mode, &hybrid) {
                ("vector", _) => c.search(&vectors[q], &options)?,
                (_, None) => c.search_keyword(texts[q], &options)?,
                (_, Some(h)) => c.search_hybrid(texts[q], Some(&vectors[q]), &options, h)?,
            };
            if hits.iter().any(|h| h.id == target as u64) {
                found[usize::from(!items[target].exact)] += 1;
            }
        }
        let rate = |hit: usize, of: usize| hit as f64 / of.max(1) as f64;
        println!(
            "| {mode} | {:.3} | {:.3} | {:.3} |",
            rate(found[0], exact.len()),
            rate(found[1], para.len()),
            rate(found[0] + found[1], asked.len())
        );
    }
    keyword_at_scale(100_000, tmp)
}

/// Keyword QPS, index bytes per record, and the load cost of rebuilding the index.
fn keyword_at_scale(n: usize, tmp: &Path) -> Result<()> {
    let items = generate(n, 11);
    let config =
        CollectionConfig::new(1).with_metric(SimilarityMetric::Euclidean).with_index(IndexType::Flat);
    let with_text = Collection::new("texts", config)?;
    let without = Collection::new("bare", config)?;
    let started = Instant::now();
    with_text
        .add_batch(items.iter().map(|it| NewRecord::new(vec![1.0]).with_text(it.note.clone())).collect())?;
    let add_s = started.elapsed().as_secs_f64();
    without.add_batch(items.iter().map(|_| NewRecord::new(vec![1.0])).collect())?;
    let questions: Vec<&str> =
        items.iter().filter(|it| it.exact).take(2_000).map(|it| it.question.as_str()).collect();
    let options = SearchOptions::new(5);
    let mut times = Vec::with_capacity(questions.len());
    let started = Instant::now();
    for q in &questions {
        let t = Instant::now();
        std::hint::black_box(with_text.search_keyword(q, &options)?);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let qps = questions.len() as f64 / started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let p50 = times[times.len() / 2];
    let bytes = with_text.text_index_bytes() as f64 / n as f64;
    std::fs::create_dir_all(tmp)?;
    let mut load = [0.0; 2];
    for (i, c) in [&with_text, &without].into_iter().enumerate() {
        let path = tmp.join(format!("{i}.vlc"));
        c.save_to_file(&path, &SaveOptions::default())?;
        let started = Instant::now();
        std::hint::black_box(Collection::load_from_file(&path, &LoadOptions::default())?);
        load[i] = started.elapsed().as_secs_f64();
    }
    println!("\n{n} short texts (one thread, one query per call, k = 5):\n");
    println!("| row | value |");
    println!("|---|---:|");
    println!("| keyword queries/s (exact-token questions) | {qps:.0} |");
    println!("| keyword p50 µs | {p50:.0} |");
    println!("| keyword index bytes per record | {bytes:.0} |");
    println!("| add {n} texts (index kept current), s | {add_s:.2} |");
    println!("| load with texts (index rebuilt), s | {:.3} |", load[0]);
    println!("| load of the same records without texts, s | {:.3} |", load[1]);
    Ok(())
}
