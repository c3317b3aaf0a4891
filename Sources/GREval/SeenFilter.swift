/// Which already-consumed ids are removed from a user's candidates before ranking (spec §6.1).
///
/// `RankingEvaluator` takes the seen lists from its caller either way; this value tells the caller
/// which list to build. Raw values are the config spellings.
public enum SeenFilter: String, Codable, CaseIterable, Sendable {
    /// The reference: the ids of the model's (truncated) input window, i.e. `past_ids` with at most
    /// max_sequence_length items (200 MovieLens / 50 Books). Older consumed items stay rankable.
    case inputWindow = "input_window"
    /// Every item the user interacted with before the target, however old.
    case fullHistory = "full_history"
}
