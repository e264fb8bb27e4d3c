# frozen_string_literal: true

# The little of Homebrew's formula DSL that packaging/homebrew/check needs to read
# wsgate.rb without Homebrew: it loads the formula and then either prints what its
# service block declares or runs its test block against an installed prefix.
#
#   ruby dsl.rb FORMULA PREFIX version   the version in the formula's url
#   ruby dsl.rb FORMULA PREFIX service   the service: `arg X`, `env K=V`, `log X`,
#                                        `error_log X`, `keep_alive X`, one a line
#   ruby dsl.rb FORMULA PREFIX test      runs `test do` with bin = PREFIX/bin
#
# PREFIX stands for both the keg and HOMEBREW_PREFIX (etc, var, opt_bin are under it).
# Anything the formula calls that is not defined here fails loudly.

require "fileutils"
require "pathname"
require "socket"
require "tmpdir"

# A formula's version: Homebrew's Version, as far as the test block uses it.
class Version
  def initialize(text)
    @text = text
  end

  def head?
    @text.start_with?("HEAD")
  end

  def to_s
    @text
  end
end

# A failed assertion in the test block.
class AssertionFailed < StandardError; end

# What a `service do` block declares.
class Service
  attr_reader :args, :env, :log, :error_log, :keep_alive_value

  def initialize(formula)
    @formula = formula
    @args = []
    @env = {}
  end

  def run(args)
    @args = Array(args).map(&:to_s)
  end

  def keep_alive(value)
    @keep_alive_value = value
  end

  def log_path(path)
    @log = path.to_s
  end

  def error_log_path(path)
    @error_log = path.to_s
  end

  def environment_variables(variables)
    @env = variables.transform_values(&:to_s)
  end

  def std_service_path_env
    "#{@formula.prefix}/bin:#{@formula.prefix}/sbin:/usr/bin:/bin:/usr/sbin:/sbin"
  end

  %i[bin etc opt_bin var].each do |name|
    define_method(name) { @formula.public_send(name) }
  end
end

# The class a formula derives from: the class-level DSL records, the instance methods
# give paths under PREFIX and the assertions the test block uses.
class Formula
  class << self
    attr_reader :url_value, :service_block, :test_block

    def inherited(subclass)
      super
      @subclass = subclass
    end

    attr_reader :subclass

    def url(value, **)
      @url_value = value
    end

    def service(&block)
      @service_block = block
    end

    def test(&block)
      @test_block = block
    end

    %i[desc homepage sha256 license head depends_on].each do |name|
      define_method(name) { |*, **| nil }
    end
  end

  attr_reader :prefix

  def initialize(prefix)
    @prefix = Pathname.new(prefix)
  end

  def bin
    prefix/"bin"
  end
  alias opt_bin bin

  def etc
    prefix/"etc"
  end

  def var
    prefix/"var"
  end

  def testpath
    @testpath ||= Pathname.new(Dir.mktmpdir("wsgate-test-"))
  end

  def version
    Version.new(self.class.url_value[%r{/tags/v([^/]+)\.tar\.gz\z}, 1] || "unknown")
  end

  def free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def shell_output(command, status = 0)
    output = IO.popen(command, &:read)
    raise AssertionFailed, "#{command} exited #{$?.exitstatus}, not #{status}" if $?.exitstatus != status

    output
  end

  def assert_match(pattern, text)
    return if text.to_s.match?(pattern.is_a?(String) ? Regexp.new(Regexp.escape(pattern)) : pattern)

    raise AssertionFailed, "expected #{pattern.inspect} to match #{text.inspect}"
  end

  def flunk(message)
    raise AssertionFailed, message
  end

  def refute_match(pattern, text)
    return unless text.to_s.match?(pattern.is_a?(String) ? Regexp.new(Regexp.escape(pattern)) : pattern)

    # The pattern may be a secret: say where, not what.
    raise AssertionFailed, "a forbidden pattern matched text of #{text.to_s.length} characters"
  end

  def run_test
    Dir.chdir(testpath) { instance_exec(&self.class.test_block) }
  ensure
    FileUtils.rm_rf(testpath)
  end

  def service_lines
    service = Service.new(self)
    service.instance_exec(&self.class.service_block)
    service.args.map { |a| "arg #{a}" } +
      service.env.map { |k, v| "env #{k}=#{v}" } +
      ["log #{service.log}", "error_log #{service.error_log}", "keep_alive #{service.keep_alive_value}"]
  end
end

formula_path, prefix, what = ARGV
abort "usage: ruby dsl.rb FORMULA PREFIX version|service|test" unless what

load formula_path
formula = Formula.subclass.new(prefix)
case what
when "version" then puts formula.version
when "service" then puts formula.service_lines
when "test"
  begin
    formula.run_test
  rescue AssertionFailed => e
    abort "test do failed: #{e.message}"
  end
  puts "test do passed"
else abort "unknown: #{what}"
end
