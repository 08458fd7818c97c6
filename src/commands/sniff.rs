//! `plainsight sniff`: the intruder's sniffer, in the intruder host (or, warned, outside the lab).

use crate::exit::Exit;

pub fn run(args: &crate::cli::SniffArgs) -> anyhow::Result<Exit> {
    let keylog = args
        .with_keys
        .then(|| crate::lab::Lab::new(&args.lab).map(|lab| lab.state_dir().join(crate::lab::site::KEYLOG)))
        .transpose()?;
    let mut opts = args.options(keylog)?;
    if args.guess_articles {
        let lab = crate::lab::Lab::new(&args.lab)?;
        opts.guess = Some((
            crate::analysis::fingerprint::Model::load(&crate::lab::fingerprint::model_path(&lab))?,
            args.guess_gap,
        ));
    }
    if args.outside_lab {
        eprintln!(
            "plainsight: WARNING: sniffing outside the lab. Capturing other people's traffic without their consent is illegal in most places; do this only on a network you own, with everyone's agreement."
        );
    } else {
        let lab = crate::lab::Lab::new(&args.lab)?;
        crate::lab::run::be_in(&lab, args.host)?;
    }
    let stop = crate::lab::proc::stop_on_signals();
    crate::lab::intruder::sniff::run(&opts, stop)?;
    Ok(Exit::Ok)
}
