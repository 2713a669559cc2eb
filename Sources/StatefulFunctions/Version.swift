extension StatefulFunctions {
    /// The version of swift-statefun, in semantic versioning (`MAJOR.MINOR.PATCH`):
    /// the latest release named in CHANGELOG.md, which the README's dependency
    /// line asks for. Changes merged since are listed under the changelog's
    /// "Unreleased" until the next release raises it. Until 1.0.0 a minor
    /// version may change the public API; a patch version never does.
    public static let version = "0.9.0"
}
