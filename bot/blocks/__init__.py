"""PURE Block Kit: cards, messages, modals and the Home tab as JSON, with ids and text."""
