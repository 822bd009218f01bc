use tasks_recorder::recorded_task;

struct Importer {
    source: String,
}

impl Importer {
    #[recorded_task(id = self.source.clone())]
    async fn import(&self) -> Result<(), String> {
        Ok(())
    }

    #[recorded_task(id = self.source.clone())]
    async fn import_mut(&mut self) -> Result<(), String> {
        self.source.clear();
        Ok(())
    }
}

fn main() {}
