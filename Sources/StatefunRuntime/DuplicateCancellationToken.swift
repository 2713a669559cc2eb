package import StatefulFunctions

/// Two delayed messages of one sender pending with the same cancellation token: the
/// runtime's delayed-message buffer refuses the second (`IllegalStateException`), which
/// fails the job.
package struct DuplicateCancellationToken: Error, CustomStringConvertible {
    package let sender: Address
    package let token: String

    package var description: String {
        "\(sender) sent a delayed message with cancellation token '\(token)' while a message with that token is"
            + " pending (the runtime fails the job: IllegalStateException, a message with the same cancellation"
            + " token exists)"
    }
}
