//! The workstation window (eframe/egui). It only renders state and sends commands; every
//! computation runs behind the service layer on background threads (see [`worker`]).

pub mod app;
mod inspector;
mod train_panel;
pub mod triage;
pub mod viewer;
pub mod worker;

pub use app::{App, Paths};

use anyhow::{anyhow, Result};

/// Opens the window with the given images loaded and training folders filled in.
pub fn run(args: crate::cli::GuiArgs) -> Result<()> {
    worker::lower_compute_priority();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Fauxscope")
            .with_app_id("fauxscope")
            .with_inner_size([1400.0, 860.0])
            .with_min_inner_size([800.0, 500.0])
            .with_icon(icon()),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "Fauxscope",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let mut app = App::new(Paths::default(), Some(ctx), args.model);
            if let Some(c) = &args.case {
                if let Err(e) = app.open_case(c) {
                    app.notice = Some(format!("{e:#}"));
                }
            }
            for p in &args.images {
                app.add_path(p);
            }
            app.train.real = args.real;
            app.train.fake = args.fake;
            // Training runs in a child `fauxscope train-worker` of this very binary.
            app.train.executable = std::env::current_exe().ok();
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))
}

fn icon() -> egui::IconData {
    let png = include_bytes!("../../assets/icons/fauxscope.png");
    match image::load_from_memory(png) {
        Ok(img) => {
            let rgba = img.to_rgba8();
            egui::IconData {
                width: rgba.width(),
                height: rgba.height(),
                rgba: rgba.into_raw(),
            }
        }
        Err(_) => egui::IconData::default(),
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        // CPU time of the previous whole frame (UI, tessellation and painting).
        if let Some(s) = frame.info().cpu_usage {
            self.record_frame(s * 1000.0);
        }
        self.show(ui);
    }
}
