// Prompt functions that fail in each way promptfoo reports as an error row.
module.exports.throws = () => { throw new Error('prompt function exploded'); };
module.exports.number = () => 42;
module.exports.nothing = () => undefined;
module.exports.nullish = () => null;
module.exports.hang = () => new Promise(() => {});
module.exports.notAFunction = 'just text';
