"""Trainee training sessions: puzzle groups, scoring, scheduling and the chat consumer (training issue)."""
