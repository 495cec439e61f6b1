"""Who is calling, for which organization, and what they may do: decided here and only here."""
