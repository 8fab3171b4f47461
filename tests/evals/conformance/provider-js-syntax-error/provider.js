module.exports = class {
  callApi( {
};
