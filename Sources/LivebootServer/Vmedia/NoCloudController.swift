import Foundation
import HTTPTypes
import Hummingbird

/// `GET|HEAD /seed/<node>/<file>`: cloud-init's NoCloud HTTP source for BMCs with a single virtual-media slot
/// (the live image boots with `ds=nocloud;s=http://<server>/seed/<node>/`; cloud-init then reads `meta-data`,
/// `user-data`, and tries `vendor-data` and `network-config`).
struct NoCloudController: Sendable {
    /// `<images>/seeds/nocloud`, where `lb liveboot` publishes each node's current seed.
    let folder: String
    static let files: Set<String> = ["user-data", "meta-data", "vendor-data", "network-config"]

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/seed/{node}/{file}", method: method) { request, context in
                serve(node: context.parameters.get("node") ?? "", file: context.parameters.get("file") ?? "",
                      head: request.method == .head)
            }
        }
    }

    func serve(node: String, file: String, head: Bool) -> Response {
        // Names are checked before any path is built: nothing but a node's own seed files is reachable.
        guard Self.files.contains(file), MediaLibrary.isPlainName(node),
              let data = FileManager.default.contents(atPath: "\(folder)/\(node)/\(file)") else {
            return Response(status: .notFound)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: String(data.count)],
                        body: head ? ResponseBody() : .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
