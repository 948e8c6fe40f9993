"""Lightning wiring: the LightningModule, optimizer/schedule, loggers."""
