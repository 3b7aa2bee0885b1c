import Foundation
import LivebootServer
@testable import VmediaServer
import XCTest

/// RFC 9110 range and conditional semantics, as pure functions.
final class ByteRangeTests: XCTestCase {
    func testEveryRangeForm() {
        let size = 1000
        XCTAssertEqual(ByteRange.decide(nil, size: size), .whole)
        XCTAssertEqual(ByteRange.decide("bytes=0-499", size: size), .partial(0...499))
        XCTAssertEqual(ByteRange.decide("bytes=500-", size: size), .partial(500...999))
        XCTAssertEqual(ByteRange.decide("bytes=-5", size: size), .partial(995...999))
        XCTAssertEqual(ByteRange.decide("bytes=-5000", size: size), .partial(0...999))
        XCTAssertEqual(ByteRange.decide("bytes=900-5000", size: size), .partial(900...999), "last-pos clamped")
        XCTAssertEqual(ByteRange.decide("BYTES = 1-2".replacingOccurrences(of: " ", with: ""), size: size), .partial(1...2))
        XCTAssertEqual(ByteRange.decide("bytes= 7-7 ", size: size), .partial(7...7))
        XCTAssertEqual(ByteRange.decide("bytes=999-999", size: size), .partial(999...999))
        XCTAssertEqual(ByteRange.decide("bytes=99999999999999999999999-", size: size), .unsatisfiable)
    }

    func testUnsatisfiable() {
        XCTAssertEqual(ByteRange.decide("bytes=1000-", size: 1000), .unsatisfiable)
        XCTAssertEqual(ByteRange.decide("bytes=1000-2000", size: 1000), .unsatisfiable)
        XCTAssertEqual(ByteRange.decide("bytes=-0", size: 1000), .unsatisfiable)
        XCTAssertEqual(ByteRange.decide("bytes=0-0", size: 0), .unsatisfiable)
        XCTAssertEqual(ByteRange.decide("bytes=2000-,3000-", size: 1000), .unsatisfiable)
    }

    func testMalformedIsIgnored() {
        for header in ["bytes=", "bytes=a-b", "bytes=5-1", "bytes=1-2-3", "items=0-1", "bytes=--1", "bytes=-", "0-10",
                       "bytes=1.5-2", "bytes=+1-2"] {
            XCTAssertEqual(ByteRange.decide(header, size: 1000), .whole, header)
        }
    }

    func testSeveralRangesGetTheWholeEntity() {
        XCTAssertEqual(ByteRange.decide("bytes=0-1,5-6", size: 1000), .whole)
        XCTAssertEqual(ByteRange.decide("bytes=0-1, 2000-", size: 1000), .whole)
        XCTAssertEqual(ByteRange.decide("bytes=0-1,", size: 1000), .partial(0...1), "empty list elements are allowed")
    }

    let validators = Validators(etag: "\"abc\"", lastModified: Date(timeIntervalSince1970: 1_700_000_000))

    func evaluate(ifMatch: String? = nil, ifNoneMatch: String? = nil, ifModifiedSince: String? = nil,
                  ifUnmodifiedSince: String? = nil, ifRange: String? = nil, hasRange: Bool = false) -> ConditionalOutcome {
        Conditional.evaluate(ifMatch: ifMatch, ifUnmodifiedSince: ifUnmodifiedSince, ifNoneMatch: ifNoneMatch,
                             ifModifiedSince: ifModifiedSince, ifRange: ifRange, hasRange: hasRange, validators: validators)
    }

    func testConditionals() {
        let date = HTTPDate.format(validators.lastModified)
        XCTAssertEqual(date, "Tue, 14 Nov 2023 22:13:20 GMT")
        XCTAssertEqual(evaluate(ifNoneMatch: "\"abc\""), .notModified)
        XCTAssertEqual(evaluate(ifNoneMatch: "W/\"abc\""), .notModified, "If-None-Match compares weakly")
        XCTAssertEqual(evaluate(ifNoneMatch: "\"x\", \"abc\""), .notModified)
        XCTAssertEqual(evaluate(ifNoneMatch: "*"), .notModified)
        XCTAssertEqual(evaluate(ifNoneMatch: "\"other\""), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(ifModifiedSince: date), .notModified)
        XCTAssertEqual(evaluate(ifModifiedSince: "Tue, 14 Nov 2023 22:13:19 GMT"), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(ifNoneMatch: "\"other\"", ifModifiedSince: date), .proceed(honourRange: false),
                       "If-Modified-Since is ignored when If-None-Match is present")
        XCTAssertEqual(evaluate(ifMatch: "\"other\""), .preconditionFailed)
        XCTAssertEqual(evaluate(ifMatch: "\"abc\""), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(ifUnmodifiedSince: "Mon, 13 Nov 2023 00:00:00 GMT"), .preconditionFailed)
    }

    func testIfRange() {
        let date = HTTPDate.format(validators.lastModified)
        XCTAssertEqual(evaluate(ifRange: "\"abc\"", hasRange: true), .proceed(honourRange: true))
        XCTAssertEqual(evaluate(ifRange: "\"old\"", hasRange: true), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(ifRange: "W/\"abc\"", hasRange: true), .proceed(honourRange: false), "If-Range is strong")
        XCTAssertEqual(evaluate(ifRange: date, hasRange: true), .proceed(honourRange: true))
        XCTAssertEqual(evaluate(ifRange: "Mon, 13 Nov 2023 00:00:00 GMT", hasRange: true), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(ifRange: "garbage", hasRange: true), .proceed(honourRange: false))
        XCTAssertEqual(evaluate(hasRange: true), .proceed(honourRange: true))
    }

    /// The hand-made IMF-fixdate (sent with every vmedia answer) against Foundation's formatter.
    func testHTTPDateFormatMatchesFoundation() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        var rng = SeedPropertyTests.SplitMix(state: 9)
        for seconds in [0, 951_782_400, 4_107_542_399] + (0..<500).map({ _ in Int.random(in: 0...4_102_444_800, using: &rng) }) {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            XCTAssertEqual(HTTPDate.format(date), formatter.string(from: date), "\(seconds)")
            XCTAssertEqual(HTTPDate.parse(HTTPDate.format(date)), date)
        }
    }
}
