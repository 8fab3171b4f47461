module.exports = async () => { throw new Error('no database'); };
