//! `plainsight fingerprint learn | guess | eval`: which article, from sizes.

use crate::exit::Exit;

pub fn run(args: &crate::cli::FingerprintArgs) -> anyhow::Result<Exit> {
    use crate::analysis::fingerprint::Model;
    use crate::cli::FingerprintAction;
    use crate::lab::fingerprint as run;
    let needs_root = !matches!(args.action, FingerprintAction::Guess { model: Some(_), .. });
    if needs_root && !crate::lab::run::privileged() && !crate::lab::run::in_sandbox() {
        eprintln!("plainsight: fingerprint uses the lab (network namespaces): run it as root");
        return Ok(Exit::Usage);
    }
    match &args.action {
        FingerprintAction::Learn { lab, loads, browser } => {
            let lab = crate::lab::Lab::new(lab)?;
            let stop = crate::lab::proc::stop_on_signals();
            let model = run::learn(&lab, *loads as usize, browser.is_some(), stop)?;
            print!("{}", run::learned_text(&model, &run::model_path(&lab)));
        }
        FingerprintAction::Guess { capture, lab, model, gap } => {
            let path = match model {
                Some(m) => m.clone(),
                None => run::model_path(&crate::lab::Lab::new(lab)?),
            };
            print!("{}", run::guess_text(&Model::load(&path)?, capture, *gap)?);
        }
        FingerprintAction::Eval { lab, visits, seed, browser, json } => {
            let lab = crate::lab::Lab::new(lab)?;
            let stop = crate::lab::proc::stop_on_signals();
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
            let e = run::eval(&lab, *visits as usize, seed, browser.is_some(), stop)?;
            print!("{}", run::eval_text(&e));
            if let Some(p) = json {
                std::fs::write(p, serde_json::to_vec_pretty(&e)?)?;
            }
        }
    }
    Ok(Exit::Ok)
}
