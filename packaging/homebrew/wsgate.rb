# A formula for a Homebrew tap: homebrew-core asks for more users than wsgate has yet.
#
# `url` names the release's tag and `sha256` is that tarball's digest; RELEASING.md says
# how a release fills them in. Until the first tag (v0.1.0) exists the digest is a
# placeholder and only `--HEAD` can install. packaging/homebrew/check does what this
# formula does without Homebrew (on Linux in CI) and runs its service and test blocks.
class Wsgate < Formula
  desc "Token gate in front of a local tool's WebSocket"
  homepage "https://github.com/wsgate/wsgate"
  url "https://github.com/wsgate/wsgate/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license any_of: ["MIT", "Apache-2.0"]
  head "https://github.com/wsgate/wsgate.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args

    # The man page and completions come from the binary's own flag table.
    generate_completions_from_executable(bin/"wsgate", "--generate", shell_parameter_format: "complete-")
    (buildpath/"wsgate.1").write Utils.safe_popen_read(bin/"wsgate", "--generate", "man")
    man1.install "wsgate.1"

    # etc is shared and outlives upgrades. Homebrew never overwrites a config the user
    # changed: the new default is installed beside it as config.default.
    (etc/"wsgate").install "packaging/wsgate.conf" => "config"
  end

  def post_install
    (var/"log").mkpath
    # The daemon creates var/run/wsgate itself, mode 0700, and refuses a wider one.
    (var/"run").mkpath
  end

  def caveats
    <<~EOS
      The service gates the built-in echo on 127.0.0.1:7331 with a token generated at
      each start. The connect URL, with the token, is never in the log; read it with
      (on a terminal, a link to try it in a browser follows):
        WSGATE_RUNTIME_DIR=#{var}/run/wsgate wsgate list

      To gate your tool instead, or to keep one token across restarts
      (--auth-token-file), edit:
        #{etc}/wsgate/config
      then:
        brew services restart wsgate

      The service's token store (--auth store) is #{var}/wsgate:
        WSGATE_CONFIG_DIR=#{var}/wsgate wsgate token create --name laptop
    EOS
  end

  service do
    run [opt_bin/"wsgate", "--config", etc/"wsgate/config"]
    keep_alive true
    log_path var/"log/wsgate.log"
    error_log_path var/"log/wsgate.log"
    environment_variables PATH:               std_service_path_env,
                          WSGATE_CONFIG_DIR:  "#{var}/wsgate",
                          WSGATE_RUNTIME_DIR: "#{var}/run/wsgate"
  end

  test do
    version_line = shell_output("#{bin}/wsgate --version")
    assert_match(/\Awsgate \d+\.\d+\.\d+$/, version_line)
    # A --HEAD build's version is HEAD-<commit>; the binary still says Cargo.toml's.
    assert_match "wsgate #{version}", version_line unless version.head?

    token = "wsgate-homebrew-test-token"
    (testpath/"token").write "#{token}\n"
    port = free_port
    pid = spawn({ "WSGATE_RUNTIME_DIR" => (testpath/"run").to_s },
                "#{bin}/wsgate", "--echo", "--listen", "127.0.0.1:#{port}",
                "--auth-token-file", (testpath/"token").to_s,
                [:out, :err] => (testpath/"wsgate.log").to_s)
    begin
      # The status line of a WebSocket upgrade (RFC 6455 section 4.1) for target.
      upgrade = lambda do |target|
        TCPSocket.open("127.0.0.1", port) do |socket|
          socket.write "GET #{target} HTTP/1.1\r\n" \
                       "Host: 127.0.0.1:#{port}\r\n" \
                       "Upgrade: websocket\r\n" \
                       "Connection: Upgrade\r\n" \
                       "Sec-WebSocket-Version: 13\r\n" \
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
          socket.gets
        end
      end

      50.times do
        TCPSocket.open("127.0.0.1", port).close
        break
      rescue Errno::ECONNREFUSED
        if Process.wait(pid, Process::WNOHANG)
          pid = nil
          flunk "wsgate exited: #{(testpath/"wsgate.log").read}"
        end
        sleep 0.2
      end

      assert_match %r{\AHTTP/1\.1 401 }, upgrade.call("/")
      assert_match %r{\AHTTP/1\.1 101 }, upgrade.call("/?token=#{token}")
      refute_match token, (testpath/"wsgate.log").read
    ensure
      if pid
        Process.kill("TERM", pid)
        Process.wait(pid)
      end
    end
  end
end
