import Foundation

enum FixtureError: Error {
    case missing(String)
}

/// The text of a file in Fixtures/, the golden outputs kept beside the tests.
func fixture(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        throw FixtureError.missing(name)
    }
    return try String(contentsOf: url, encoding: .utf8)
}
