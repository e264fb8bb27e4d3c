# zsh -f THIS FPATH_DIR OUT_FILE LINE...: completes each LINE in an interactive zsh
# in a pseudo-terminal, with compadd wrapped to record the matches it is given (as
# matched against the word being completed): OUT_FILE gets "<line> LINE", the
# matches, one a line, and "<done>" when the completion ended.
zmodload zsh/zpty || exit 3
dir=$1 out=$2
shift 2
: > $out
zpty z zsh -f -i
zpty -w z "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "__out=${(q)out}"
zpty -w z 'compadd() { if (( ${@[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi; local -a __m; builtin compadd -O __m "$@"; (( $#__m )) && print -rl -- $__m >> $__out; builtin compadd "$@"; }'
zpty -w z '__tab() { zle complete-word; print -r -- "<done>" >> $__out; }; zle -N __tab; bindkey "^I" __tab'
for line in "$@"; do
  print -r -- "<line> $line" >> $out
  zpty -w -n z "$line"$'\t'
  for i in {1..200}; do
    [[ $(tail -n 1 $out) == '<done>' ]] && break
    sleep 0.05
  done
  zpty -w -n z $'\x15'
done
zpty -d z
