"""Active distillation: which pool inputs each round sends to the teacher."""
