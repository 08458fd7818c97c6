//! `plainsight synth`: captures with known content, for the benchmarks and the sample.

use crate::analysis::synth;
use crate::exit::Exit;

pub fn run(s: &crate::cli::SynthArgs) -> anyhow::Result<Exit> {
    let f = std::fs::File::create(&s.out)?;
    if s.sample {
        synth::write_sample(f)?;
    } else {
        let shape = synth::Shape { one_byte: s.one_byte, spread: s.spread, interleave: s.interleave };
        let frames = synth::benchmark_capture_with(f, s.transactions, s.tls, s.body, shape)?;
        eprintln!("wrote {frames} frames to {}", s.out.display());
    }
    Ok(Exit::Ok)
}
