"""Read models: log followers, SQL projections fed by consumers, and their online rebuild."""
