// A file:// variable: promptfoo calls the default export with (varName, prompt, vars, provider).
module.exports = (varName, prompt, vars) => ({ output: `${varName} for ${vars.who} (${prompt.length} chars)` });
