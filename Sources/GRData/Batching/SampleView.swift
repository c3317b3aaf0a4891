/// Which part of each user's sequence a sample uses (spec §1.4, `ignore_last_n`): the last
/// `ignoreLastN` events are dropped, the last remaining one is the target, the ones before it
/// (newest `maxLength`) the history.
///
/// Users whose view leaves no history (fewer than `ignoreLastN + 2` events) are skipped by
/// `BatchSampler`; the reference would emit a zero-length sequence for them. (MovieLens users all
/// have ≥ 20 events and Books users ≥ 5, so this only matters for synthetic or CSV data.)
public struct SampleView: Sendable, Equatable {
    public var ignoreLastN: Int

    public init(ignoreLastN: Int) {
        precondition(ignoreLastN >= 0)
        self.ignoreLastN = ignoreLastN
    }

    /// Training view of the reference: target = 2nd-to-last event.
    public static let train = SampleView(ignoreLastN: 1)
    /// Test view of the reference: target = last event.
    public static let eval = SampleView(ignoreLastN: 0)
    /// Validation protocol (spec §6.4 (c)): train on targets up to the 3rd-to-last event ...
    public static let validationTrain = SampleView(ignoreLastN: 2)
    /// ... and select epochs by the metrics on the 2nd-to-last event.
    public static let validation = SampleView(ignoreLastN: 1)

    /// Events a user needs to give a sample (≥ 1 history item + the target).
    public var minimumEvents: Int { ignoreLastN + 2 }
}
