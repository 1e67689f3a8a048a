"""Export: a finished run as something that runs without the studio (a merged model folder)."""
